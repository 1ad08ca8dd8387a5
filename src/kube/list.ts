import { ApiException, AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

/**
 * Listing what is already in a cluster, for `gitlab-runner-admission scan`: ConfigMaps,
 * Secrets (only when asked), Deployments, StatefulSets, DaemonSets and Pods (optional), across
 * all namespaces or a chosen set, page by page (limit/continue) so a large cluster never
 * arrives as one response. Permission is judged per namespace: a 403 on a cluster-wide list
 * falls back to one list per namespace, and a namespace the user may not read is reported and
 * skipped, never fatal. Objects come back as plain JSON with `kind` set (list items lack it).
 */

export type ListedKind =
  'ConfigMap' | 'Secret' | 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Pod';

export interface ListOptions {
  kinds: ListedKind[];
  /** undefined: all namespaces */
  namespaces?: string[];
  pageSize: number;
  /** called after every page: kind, objects so far of that kind */
  onPage?: (kind: ListedKind, count: number) => void;
}

export interface Listed {
  objects: Record<string, unknown>[];
  /** one line per namespace/kind that could not be read, and why */
  problems: string[];
}

interface Page {
  items: unknown[];
  metadata?: { _continue?: string };
}

type Lister = (
  namespace: string | undefined,
  limit: number,
  cont: string | undefined,
) => Promise<Page>;

function listers(kc: KubeConfig): Record<ListedKind, Lister> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const p = (limit: number, cont: string | undefined) => ({
    limit,
    ...(cont ? { _continue: cont } : {}),
  });
  return {
    ConfigMap: (ns, l, c) =>
      ns
        ? core.listNamespacedConfigMap({ namespace: ns, ...p(l, c) })
        : core.listConfigMapForAllNamespaces(p(l, c)),
    Secret: (ns, l, c) =>
      ns
        ? core.listNamespacedSecret({ namespace: ns, ...p(l, c) })
        : core.listSecretForAllNamespaces(p(l, c)),
    Pod: (ns, l, c) =>
      ns
        ? core.listNamespacedPod({ namespace: ns, ...p(l, c) })
        : core.listPodForAllNamespaces(p(l, c)),
    Deployment: (ns, l, c) =>
      ns
        ? apps.listNamespacedDeployment({ namespace: ns, ...p(l, c) })
        : apps.listDeploymentForAllNamespaces(p(l, c)),
    StatefulSet: (ns, l, c) =>
      ns
        ? apps.listNamespacedStatefulSet({ namespace: ns, ...p(l, c) })
        : apps.listStatefulSetForAllNamespaces(p(l, c)),
    DaemonSet: (ns, l, c) =>
      ns
        ? apps.listNamespacedDaemonSet({ namespace: ns, ...p(l, c) })
        : apps.listDaemonSetForAllNamespaces(p(l, c)),
  };
}

const PLURAL: Record<ListedKind, string> = {
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  Pod: 'pods',
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function reason(err: unknown): string {
  const code = statusOf(err);
  if (code !== undefined) return `HTTP ${code}`;
  return err instanceof Error ? ((err as { code?: string }).code ?? err.name) || 'error' : 'error';
}

/** Plain JSON, as the webhook would see the object; `kind` is absent on list items. */
function plain(item: unknown, kind: ListedKind): Record<string, unknown> {
  const o = JSON.parse(JSON.stringify(item)) as Record<string, unknown>;
  o.kind = kind;
  return o;
}

async function listAllPages(
  list: Lister,
  ns: string | undefined,
  kind: ListedKind,
  opts: ListOptions,
  out: Record<string, unknown>[],
  counter: { n: number },
): Promise<void> {
  let cont: string | undefined;
  do {
    const page = await list(ns, opts.pageSize, cont);
    for (const item of page.items) out.push(plain(item, kind));
    counter.n += page.items.length;
    opts.onPage?.(kind, counter.n);
    cont = page.metadata?._continue || undefined;
  } while (cont);
}

export async function listNamespaces(kc: KubeConfig): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const names: string[] = [];
  let cont: string | undefined;
  do {
    const page = await core.listNamespace({ limit: 500, ...(cont ? { _continue: cont } : {}) });
    for (const n of page.items) if (n.metadata?.name) names.push(n.metadata.name);
    cont = page.metadata?._continue || undefined;
  } while (cont);
  return names;
}

export async function listObjects(kc: KubeConfig, opts: ListOptions): Promise<Listed> {
  const l = listers(kc);
  const objects: Record<string, unknown>[] = [];
  const problems: string[] = [];
  let namespaces = opts.namespaces;
  for (const kind of opts.kinds) {
    const counter = { n: 0 };
    if (namespaces === undefined) {
      try {
        await listAllPages(l[kind], undefined, kind, opts, objects, counter);
        continue;
      } catch (err) {
        if (statusOf(err) !== 403) {
          problems.push(`${PLURAL[kind]}: cannot list across namespaces (${reason(err)})`);
          continue;
        }
        // Not allowed cluster-wide: try each namespace the user can see.
        try {
          namespaces = await listNamespaces(kc);
        } catch (e) {
          problems.push(
            `${PLURAL[kind]}: not allowed to list across namespaces, and cannot list namespaces to go one by one (${reason(e)}); give --namespace`,
          );
          continue;
        }
      }
    }
    for (const ns of namespaces) {
      try {
        await listAllPages(l[kind], ns, kind, opts, objects, counter);
      } catch (err) {
        problems.push(
          statusOf(err) === 403
            ? `${ns}: not allowed to list ${PLURAL[kind]}, skipped`
            : `${ns}: cannot list ${PLURAL[kind]} (${reason(err)}), skipped`,
        );
      }
    }
    if (opts.namespaces === undefined) namespaces = undefined;
  }
  return { objects, problems };
}
