import { namespaceOf, type Lookups } from '../admission/validate.js';
import { wantedRefs, type WantedRefs } from '../workload/links.js';
import type { Settings } from '../settings/settings.js';
import type { LookupResult, ResolvedRefs } from '../workload/types.js';
import { TtlCache } from '../util/ttl-cache.js';
import { isRecord } from '../util/is-record.js';
import { KubeApiError, corePath, type KubeConnection } from './client.js';

/**
 * The Kubernetes lookups adapter: fetches the ConfigMaps (and, only when allowed, Secrets) a
 * runner workload's config and tokens come from, so the pure rules and the mutation planner can
 * see them. Thin and defensive: every call is bounded by a short timeout that never runs past
 * the review deadline, results are cached briefly, and `resolve` never throws — a failed lookup
 * is a one-line warning and a `LookupResult` of 'not-found' | 'forbidden' | 'error'.
 *
 * Secrets are read only when settings.kube.readSecrets is on: reading Secrets is a privilege
 * most clusters should not grant a webhook, and the chart's RBAC grants it only with that switch
 * (issue 3).
 */

export interface LookupLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Upper bound on objects fetched for one review: a pod spec can name many Secrets; latency must not scale with that. */
export const MAX_LOOKUPS_PER_REVIEW = 8;
const CACHE_ENTRIES = 256;
/** Leave this much of the review budget for evaluating and answering. */
const DEADLINE_MARGIN_MS = 50;

export interface KubeLookups extends Lookups {
  /** one object, cached; exposed for tests and for callers that know exactly what they need */
  fetch(
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    deadline: number,
  ): Promise<{ result: LookupResult; warning?: string }>;
  clearCache(): void;
}

/** A ConfigMap's `data`, or a Secret's `data` decoded; anything that is not a string is dropped. */
function stringData(obj: unknown, base64: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const data = isRecord(obj) ? obj.data : undefined;
  if (!isRecord(data)) return out;
  for (const [k, v] of Object.entries(data))
    if (typeof v === 'string') out[k] = base64 ? Buffer.from(v, 'base64').toString('utf8') : v;
  return out;
}

/** Which objects `resolve` should fetch for a workload: the pure seam `check` and `scan` share (src/workload/links.ts). */
export { wantedRefs };

function describeFailure(
  kind: string,
  ns: string,
  name: string,
  result: LookupResult,
  detail?: string,
): string {
  const what = `${kind} ${ns}/${name}`;
  if (result === 'not-found') return `lookup: ${what} does not exist`;
  if (result === 'forbidden')
    return `lookup: not allowed to read ${what} (RBAC: the webhook's ServiceAccount needs get on ${kind === 'Secret' ? 'secrets' : 'configmaps'})`;
  return `lookup: could not read ${what}${detail ? `: ${detail}` : ''}`;
}

export function createLookups(
  settings: Pick<Settings, 'kube'>,
  log: LookupLogger,
  kube: KubeConnection,
): KubeLookups {
  const client = kube.client;
  const unavailable = kube.client ? undefined : kube.unavailable;
  const cache = new TtlCache<Record<string, string>>({
    maxEntries: CACHE_ENTRIES,
    defaultTtlMs: settings.kube.cacheTtlMs,
  });
  const inflight = new Map<string, Promise<{ result: LookupResult; warning?: string }>>();
  if (!client)
    log.warn(
      { event: 'kube-lookups-unavailable', reason: unavailable },
      'Kubernetes lookups disabled: no usable kubeconfig',
    );

  const fetchOnce = async (
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    deadline: number,
  ): Promise<{ result: LookupResult; warning?: string }> => {
    if (!client)
      return {
        result: 'error',
        warning: `lookup: Kubernetes API not configured (${unavailable ?? 'no kubeconfig'})`,
      };
    const budget = Math.min(settings.kube.timeoutMs, deadline - Date.now() - DEADLINE_MARGIN_MS);
    if (budget <= 0)
      return {
        result: 'error',
        warning: describeFailure(
          kind,
          namespace,
          name,
          'error',
          'no time left in the review budget',
        ),
      };
    const ac = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    // The race is the guarantee; the abort signal is what frees the socket.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        ac.abort();
        reject(new Error('timeout'));
      }, budget);
    });
    try {
      const call = client
        .request(
          'GET',
          corePath(namespace, kind === 'ConfigMap' ? 'configmaps' : 'secrets', name),
          {
            signal: ac.signal,
          },
        )
        .then((obj) => stringData(obj, kind === 'Secret'));
      const data = await Promise.race([call, timeout]);
      return { result: data };
    } catch (err) {
      if (timedOut)
        return {
          result: 'error',
          warning: describeFailure(kind, namespace, name, 'error', `timed out after ${budget} ms`),
        };
      if (err instanceof KubeApiError) {
        const result: LookupResult =
          err.code === 404 ? 'not-found' : err.code === 403 ? 'forbidden' : 'error';
        return {
          result,
          warning: describeFailure(kind, namespace, name, result, `HTTP ${err.code}`),
        };
      }
      // Network errors carry URLs and codes, never object contents; keep one short line.
      const detail =
        err instanceof Error ? ((err as { code?: string }).code ?? err.name) || 'error' : 'error';
      return { result: 'error', warning: describeFailure(kind, namespace, name, 'error', detail) };
    } finally {
      if (timer) clearTimeout(timer);
    }
  };

  const fetch: KubeLookups['fetch'] = async (kind, namespace, name, deadline) => {
    const key = `${kind}/${namespace}/${name}`;
    const hit = cache.get(key);
    if (hit) return { result: hit };
    const running = inflight.get(key);
    if (running) return running;
    const p = fetchOnce(kind, namespace, name, deadline)
      .then((r) => {
        // Only successes are cached: a 404 may be fixed by the very next `kubectl apply`, a 403
        // by an RBAC change, and errors are transient.
        if (typeof r.result === 'object') cache.set(key, r.result);
        else
          log.debug(
            { event: 'kube-lookup-failed', kind, namespace, name, result: r.result },
            'lookup failed',
          );
        return r;
      })
      .catch((): { result: LookupResult; warning: string } => ({
        result: 'error',
        warning: describeFailure(kind, namespace, name, 'error'),
      }))
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };

  const resolveRefs = async (
    want: WantedRefs,
    ns: string,
    deadline: number,
  ): Promise<{ resolved?: ResolvedRefs; warnings: string[] }> => {
    try {
      const jobs: { kind: 'ConfigMap' | 'Secret'; name: string }[] = [
        ...want.configMaps.map((name) => ({ kind: 'ConfigMap' as const, name })),
        ...(settings.kube.readSecrets ? want.secrets : []).map((name) => ({
          kind: 'Secret' as const,
          name,
        })),
      ];
      if (jobs.length === 0) return { warnings: [] };
      if (!ns)
        return {
          warnings: [
            'lookup: the request has no namespace, so referenced ConfigMaps cannot be read',
          ],
        };
      const warnings: string[] = [];
      const taken = jobs.slice(0, MAX_LOOKUPS_PER_REVIEW);
      if (jobs.length > taken.length)
        warnings.push(
          `lookup: ${jobs.length} objects referenced, only the first ${taken.length} were read`,
        );
      const results = await Promise.all(taken.map((j) => fetch(j.kind, ns, j.name, deadline)));
      const resolved: ResolvedRefs = { configMaps: new Map(), secrets: new Map() };
      taken.forEach((j, i) => {
        const r = results[i]!;
        (j.kind === 'ConfigMap' ? resolved.configMaps : resolved.secrets).set(j.name, r.result);
        if (r.warning) warnings.push(r.warning);
      });
      return { resolved, warnings };
    } catch (err) {
      log.warn(
        { event: 'kube-lookup-bug', err: { type: err instanceof Error ? err.name : typeof err } },
        'lookup failed unexpectedly',
      );
      return { warnings: ['lookup: internal error while reading referenced objects'] };
    }
  };

  const resolve: Lookups['resolve'] = async (obj, namespace, deadline) => {
    try {
      return await resolveRefs(
        wantedRefs(obj, settings.kube.readSecrets),
        namespaceOf(obj, namespace),
        deadline,
      );
    } catch (err) {
      log.warn(
        { event: 'kube-lookup-bug', err: { type: err instanceof Error ? err.name : typeof err } },
        'lookup failed unexpectedly',
      );
      return { warnings: ['lookup: internal error while reading referenced objects'] };
    }
  };

  return { resolve, resolveRefs, fetch, clearCache: () => cache.clear() };
}
