import { tokenSecretRef } from '../mutation/annotations.js';
import { configMapEntries, secretEntries } from '../rules/data.js';
import { isRecord } from '../util/is-record.js';
import { analyzeWorkload } from './workload.js';
import type { LookupResult, ResolvedRefs } from './types.js';

/**
 * Which ConfigMaps/Secrets a workload's config and tokens come from, and answering that from
 * objects at hand instead of the Kubernetes API. The webhook's lookups (src/kube/lookups.ts)
 * fetch `wantedRefs` from the API; `check` (objects given in one run) and `scan` (objects listed
 * from a cluster) fill an `ObjectIndex` and resolve from it, so the same rules (GRA211-213,
 * token slots fed from Secrets) fire the same way everywhere. Pure.
 */

/** The ConfigMaps and Secrets (by name, in the workload's namespace) a review wants read. */
export interface WantedRefs {
  configMaps: string[];
  secrets: string[];
}

/**
 * Which objects a workload reads, by kind and name (namespace-local): where its `run` config
 * comes from, what feeds its runner containers' env, and the token Secret its annotation names.
 * Cheap on a second call for the same object (the analysis is shared within a review).
 */
export function wantedRefs(obj: unknown, readSecrets: boolean): WantedRefs {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const a = analyzeWorkload(obj);
  if (a) {
    for (const s of a.referencedConfigSources)
      (s.kind === 'ConfigMap' ? configMaps : secrets).add(s.name);
    for (const s of a.referencedEnvSources)
      (s.kind === 'ConfigMap' ? configMaps : secrets).add(s.name);
  }
  const ts = tokenSecretRef(obj);
  if (ts) secrets.add(ts.name);
  return { configMaps: [...configMaps], secrets: readSecrets ? [...secrets] : [] };
}

interface Entry {
  data: Record<string, string>;
  /** where the object came from, for messages: `k8s/runner.yaml:12`, `cluster` */
  origin: string;
}

export interface Linked {
  resolved: ResolvedRefs;
  /** one line per object used, naming where it came from; ambiguous names say which one was taken */
  notes: string[];
}

/** ConfigMaps and Secrets by namespace and name; a name given twice keeps every origin. */
export class ObjectIndex {
  private readonly byKey = new Map<string, Entry[]>();

  private static key(kind: string, namespace: string, name: string): string {
    return `${kind}\u0000${namespace}\u0000${name}`;
  }

  /** Add an object if it is a ConfigMap or Secret with a name; anything else is ignored. */
  add(obj: unknown, origin: string, fallbackNamespace = ''): void {
    if (
      !isRecord(obj) ||
      (obj.kind !== 'ConfigMap' && obj.kind !== 'Secret') ||
      !isRecord(obj.metadata)
    )
      return;
    const name = obj.metadata.name;
    if (typeof name !== 'string' || name === '') return;
    const ns =
      typeof obj.metadata.namespace === 'string' ? obj.metadata.namespace : fallbackNamespace;
    const data: Record<string, string> = {};
    for (const e of obj.kind === 'Secret' ? secretEntries(obj) : configMapEntries(obj))
      if (e.text !== undefined) data[e.key] = e.text;
    const k = ObjectIndex.key(obj.kind, ns, name);
    const list = this.byKey.get(k);
    if (list) list.push({ data, origin });
    else this.byKey.set(k, [{ data, origin }]);
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * What the webhook's lookups would have read for this workload, from the index. Objects not in
   * the index are left out (not 'not-found'): absent from the files is not absent from the cluster.
   */
  resolve(
    workload: unknown,
    namespace: string,
    opts: { readSecrets?: boolean } = {},
  ): Linked | undefined {
    const want = wantedRefs(workload, opts.readSecrets ?? true);
    const resolved: ResolvedRefs = { configMaps: new Map(), secrets: new Map() };
    const notes: string[] = [];
    let any = false;
    for (const [kind, names, map] of [
      ['ConfigMap', want.configMaps, resolved.configMaps],
      ['Secret', want.secrets, resolved.secrets],
    ] as const) {
      for (const name of names) {
        const list = this.byKey.get(ObjectIndex.key(kind, namespace, name));
        if (!list) continue;
        const first = list[0]!;
        map.set(name, first.data as LookupResult);
        any = true;
        const what = `${kind} ${namespace ? `${namespace}/` : ''}${name}`;
        if (list.length > 1)
          notes.push(
            `linked ${what}: ambiguous, defined ${list.length} times (${list.map((e) => e.origin).join(', ')}); used ${first.origin}`,
          );
        else notes.push(`linked ${what} (${first.origin})`);
      }
    }
    return any ? { resolved, notes } : undefined;
  }
}
