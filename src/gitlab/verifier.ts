/**
 * Online verification of runner tokens against GitLab (`POST /api/v4/runners/verify`,
 * docs/facts.md §3). Off unless `settings.gitlab.verify`; only URLs under the allowlist are
 * contacted (src/gitlab/allowlist.ts).
 *
 * Side effects in GitLab (GitLab Rails lib/api/ci/runner.rb, `post '/verify'`): the call goes
 * through `authenticate_runner!`, which records a runner manager for the given `system_id`, and for
 * tokens not created in the UI (no `glrt-` prefix) also updates the runner's contacted_at (a
 * heartbeat). Hence a fixed, recognisable system_id, and no call at all on dryRun (the webhook is
 * registered with `sideEffects: NoneOnDryRun` when verification is on).
 *
 * Failure policy: GitLab being slow, down, or 5xx never blocks an admission; the item is allowed
 * with a warning. The whole review never waits longer than min(budgetMs, deadline - now).
 */
import { performance } from 'node:perf_hooks';
import type pino from 'pino';
import type { Finding } from '../findings/types.js';
import type { Location } from '../rules/rule.js';
import { verifyFindings } from '../rules/gitlab/check.js';
import type { Settings } from '../settings/settings.js';
import { classifyToken } from '../tokens/index.js';
import {
  baseUrlOf,
  compileAllowlist,
  displayUrl,
  matchAllowlist,
  originOf,
  withoutCredentials,
  type GitlabBase,
} from './allowlist.js';
import { Breakers } from './breaker.js';
import { TtlCache } from '../util/ttl-cache.js';
import { cacheKey } from './cache-key.js';
import { createHttpsFetch, type FetchLike } from './transport.js';

/**
 * The system_id sent with every verify call. gitlab-runner's own ids match `^[sr]_[0-9a-zA-Z]{12}$`
 * (facts §2, system_id_state.go); ours has that shape so GitLab stores it like any other, and reads
 * as "gra admission" in the runner's list of managers, so an admin can tell where it came from.
 */
export const SYSTEM_ID = 's_graadmission';

export interface VerifyItem {
  /** the `[[runners]] url` as written in the config */
  url: string;
  /** the token as written (whole; it is sent to GitLab and hashed, never stored or printed) */
  token: string;
  at: Location;
}

export type VerifyOutcome =
  | 'valid' // 200
  | 'rejected' // 403
  | 'orphaned' // 422
  | 'timeout'
  | 'network-error'
  | 'server-error' // 5xx, 429
  | 'unexpected-status' // anything else (404: wrong base path, 401, …)
  | 'circuit-open'
  | 'not-allowed' // url not under the allowlist (or unparseable)
  | 'not-verifiable' // empty, placeholder, env reference, registration, other GitLab token kinds
  | 'dry-run'
  | 'disabled';

/** Where an item's answer came from. */
export type VerifySource = 'network' | 'shared' | 'cache' | 'none';

export interface ItemResult {
  outcome: VerifyOutcome;
  source: VerifySource;
  /** the GitLab base contacted (or that would have been) */
  baseUrl?: string;
  status?: number;
}

export interface VerifyResult {
  findings: Finding[];
  warnings: string[];
  /** one per input item, same order (for callers that want more than findings, e.g. suppressing an offline "cannot classify" warning) */
  results: ItemResult[];
}

/** One per item of every verify() call. */
export interface OutcomeEvent {
  outcome: VerifyOutcome;
  source: VerifySource;
  baseUrl?: string;
}

/** One per HTTP call made; latency is wall-clock (monotonic). */
export interface RequestEvent {
  baseUrl: string;
  outcome: Extract<
    VerifyOutcome,
    | 'valid'
    | 'rejected'
    | 'orphaned'
    | 'timeout'
    | 'network-error'
    | 'server-error'
    | 'unexpected-status'
  >;
  status?: number;
  latencyMs: number;
}

export interface GitlabVerifier {
  verify(items: VerifyItem[], opts: { dryRun: boolean; deadline: number }): Promise<VerifyResult>;
  /** metrics hooks; each returns an unsubscribe function. Listener errors are swallowed. */
  onOutcome(cb: (e: OutcomeEvent) => void): () => void;
  onRequest(cb: (e: RequestEvent) => void): () => void;
  /** frees keep-alive sockets (shutdown, tests) */
  close(): void;
}

export interface VerifierTuning {
  /** cache a 200 this long (bounded by the token's own expiry when GitLab reports it) */
  okTtlMs: number;
  /** cache a 403/422 this long: short, so a fixed GitLab side shows up quickly */
  rejectedTtlMs: number;
  /** cache a timeout/network/5xx this long: keeps a flapping GitLab from being asked on every review */
  errorTtlMs: number;
  breakerThreshold: number;
  breakerCoolDownMs: number;
  maxCacheEntries: number;
}

export const DEFAULT_TUNING: VerifierTuning = {
  okTtlMs: 5 * 60_000,
  rejectedTtlMs: 30_000,
  errorTtlMs: 10_000,
  breakerThreshold: 5,
  breakerCoolDownMs: 30_000,
  maxCacheEntries: 10_000,
};

export interface VerifierDeps {
  /** epoch ms; drives TTLs, the breaker and the budget computation */
  clock?: () => number;
  fetch?: FetchLike;
  tuning?: Partial<VerifierTuning>;
}

interface Answer {
  outcome: RequestEvent['outcome'];
  status?: number;
  /** transport error code (ECONNREFUSED, …): safe to print, never the error message */
  code?: string | undefined;
}

const NETWORK_OUTCOMES = new Set<VerifyOutcome>([
  'timeout',
  'network-error',
  'server-error',
  'unexpected-status',
]);

export function createVerifier(
  cfg: Settings['gitlab'],
  log: pino.Logger,
  deps: VerifierDeps = {},
): GitlabVerifier {
  const clock = deps.clock ?? Date.now;
  const tuning: VerifierTuning = { ...DEFAULT_TUNING, ...deps.tuning };
  const ownFetch = deps.fetch ? undefined : createHttpsFetch({ caFile: cfg.caFile });
  const fetchLike: FetchLike = deps.fetch ?? ownFetch!;
  const allowlist = compileAllowlist(cfg.allowlist);
  if (allowlist.invalid.length) {
    log.warn(
      { invalid: allowlist.invalid },
      'GitLab allowlist entries that are not http(s) URLs without credentials are ignored',
    );
  }
  const cache = new TtlCache<Answer>({ maxEntries: tuning.maxCacheEntries, now: clock });
  const inflight = new Map<string, Promise<Answer>>();
  const breakers = new Breakers({
    threshold: tuning.breakerThreshold,
    coolDownMs: tuning.breakerCoolDownMs,
  });
  const outcomeListeners = new Set<(e: OutcomeEvent) => void>();
  const requestListeners = new Set<(e: RequestEvent) => void>();

  function emit<E>(set: Set<(e: E) => void>, e: E): void {
    for (const cb of set) {
      try {
        cb(e);
      } catch {
        // a metrics bug must not break admission
      }
    }
  }

  function expiryOf(a: Answer, expiresAt: number | undefined, now: number): number {
    if (a.outcome === 'valid') {
      const ok = now + tuning.okTtlMs;
      return expiresAt !== undefined && expiresAt > now ? Math.min(ok, expiresAt) : ok;
    }
    if (a.outcome === 'rejected' || a.outcome === 'orphaned') return now + tuning.rejectedTtlMs;
    return now + tuning.errorTtlMs;
  }

  /** One HTTP call. Never rejects. Bounded by cfg.budgetMs whatever the callers' deadlines. */
  async function call(
    base: GitlabBase,
    token: string,
    key: string,
    redacted: string,
  ): Promise<Answer> {
    const baseUrl = baseUrlOf(base);
    const started = performance.now();
    let answer: Answer;
    let tokenExpiresAt: number | undefined;
    const signal = AbortSignal.timeout(cfg.budgetMs);
    // Also race the signal ourselves: an injected fetch that ignores `signal` must not hold a
    // single-flight slot (and every later review of this token) forever.
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    );
    aborted.catch(() => undefined);
    try {
      const res = await Promise.race([
        fetchLike(`${baseUrl}/api/v4/runners/verify`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'user-agent': 'gitlab-runner-admission',
          },
          body: JSON.stringify({ token, system_id: SYSTEM_ID }),
          signal,
        }),
        aborted,
      ]);
      const status = res.status;
      answer = { outcome: outcomeOf(status), status };
      if (answer.outcome === 'valid') {
        tokenExpiresAt = await Promise.race([readExpiry(res), aborted.catch(() => undefined)]);
      } else {
        res.text().catch(() => undefined); // drain, so a keep-alive socket is reusable
      }
    } catch (e) {
      answer = isAbort(e)
        ? { outcome: 'timeout' }
        : { outcome: 'network-error', code: errorCode(e) };
    }
    const latencyMs = performance.now() - started;
    const now = clock();
    const breakerKey = originOf(base);
    if (NETWORK_OUTCOMES.has(answer.outcome)) {
      if (breakers.failure(breakerKey, now)) {
        log.warn(
          { gitlab: breakerKey, coolDownMs: tuning.breakerCoolDownMs },
          'GitLab keeps failing; pausing token verification',
        );
      }
    } else {
      breakers.success(breakerKey);
    }
    cache.set(key, answer, expiryOf(answer, tokenExpiresAt, now) - now);
    log.debug(
      {
        gitlab: baseUrl,
        token: redacted,
        outcome: answer.outcome,
        status: answer.status,
        code: answer.code,
        latencyMs: Math.round(latencyMs),
      },
      'GitLab token verification',
    );
    emit(requestListeners, {
      baseUrl,
      outcome: answer.outcome,
      ...(answer.status !== undefined ? { status: answer.status } : {}),
      latencyMs,
    });
    return answer;
  }

  async function verify(
    items: VerifyItem[],
    opts: { dryRun: boolean; deadline: number },
  ): Promise<VerifyResult> {
    const results: ItemResult[] = new Array(items.length);
    const findings: Finding[] = [];
    const warnings = new Set<string>();
    if (!cfg.verify) {
      for (let i = 0; i < items.length; i++) results[i] = { outcome: 'disabled', source: 'none' };
      return { findings, warnings: [], results };
    }

    const now = clock();
    const budgetMs = Math.max(0, Math.min(cfg.budgetMs, opts.deadline - now));
    const pending: Array<{
      i: number;
      p: Promise<Answer>;
      settled?: Answer;
      source: VerifySource;
    }> = [];
    const prepared: Array<{ base: GitlabBase; redacted: string; legacy: boolean } | undefined> =
      new Array(items.length);

    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const c = classifyToken(item.token);
      const redacted = item.at.token ?? c.redacted;
      const verifiable =
        (c.cls.kind === 'auth' || c.cls.kind === 'legacy-ambiguous') &&
        !c.innerWhitespace &&
        c.value !== '';
      if (!verifiable) {
        results[i] = { outcome: 'not-verifiable', source: 'none' };
        continue;
      }
      const base = matchAllowlist(allowlist, item.url);
      if (!base) {
        results[i] = { outcome: 'not-allowed', source: 'none' };
        // userinfo never matches (it is where people paste passwords, and a request is never
        // sent with it); on an allowlisted host say so, rather than "not on the allowlist".
        const bare = withoutCredentials(item.url);
        if (bare !== undefined && matchAllowlist(allowlist, bare)) {
          warnings.add(
            `GitLab verification skipped: the runner url ${displayUrl(item.url)} holds credentials; remove them from config.toml (token ${redacted} not verified)`,
          );
        } else {
          warnings.add(
            `GitLab verification skipped: ${displayUrl(item.url)} is not on the allowlist`,
          );
        }
        continue;
      }
      const baseUrl = baseUrlOf(base);
      prepared[i] = { base, redacted, legacy: c.cls.kind === 'legacy-ambiguous' };
      if (opts.dryRun) {
        results[i] = { outcome: 'dry-run', source: 'none', baseUrl };
        warnings.add(
          'GitLab verification skipped on dry-run (runners/verify records a runner manager)',
        );
        continue;
      }
      const key = cacheKey(baseUrl, c.value);
      const cached = cache.get(key);
      if (cached) {
        pending.push({ i, p: Promise.resolve(cached), settled: cached, source: 'cache' });
        continue;
      }
      const shared = inflight.get(key);
      if (shared) {
        pending.push({ i, p: shared, source: 'shared' });
        continue;
      }
      if (budgetMs <= 0) {
        results[i] = { outcome: 'timeout', source: 'none', baseUrl };
        warnings.add(
          `GitLab at ${baseUrl}: no time left in this review; token ${redacted} not verified`,
        );
        continue;
      }
      if (!breakers.tryAcquire(originOf(base), now)) {
        results[i] = { outcome: 'circuit-open', source: 'none', baseUrl };
        warnings.add(
          `GitLab at ${baseUrl} keeps failing, verification paused; token ${redacted} not verified`,
        );
        continue;
      }
      const p = call(base, c.value, key, redacted).finally(() => inflight.delete(key));
      inflight.set(key, p);
      pending.push({ i, p, source: 'network' });
    }

    if (pending.length) {
      for (const entry of pending) {
        if (!entry.settled) void entry.p.then((a) => (entry.settled = a));
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(pending.map((e) => e.p)),
        new Promise<void>((ok) => {
          timer = setTimeout(ok, budgetMs);
        }),
      ]);
      clearTimeout(timer);
    }

    for (const entry of pending) {
      const prep = prepared[entry.i]!;
      const item = items[entry.i]!;
      const baseUrl = baseUrlOf(prep.base);
      const a = entry.settled;
      if (!a) {
        results[entry.i] = { outcome: 'timeout', source: entry.source, baseUrl };
        warnings.add(
          `GitLab at ${baseUrl} did not answer within ${budgetMs} ms; token ${prep.redacted} not verified`,
        );
        continue;
      }
      results[entry.i] = {
        outcome: a.outcome,
        source: entry.source,
        baseUrl,
        ...(a.status !== undefined ? { status: a.status } : {}),
      };
      const at: Location = { ...item.at, token: prep.redacted };
      switch (a.outcome) {
        case 'valid':
        case 'rejected':
        case 'orphaned':
          findings.push(
            ...verifyFindings(
              a.outcome,
              { url: baseUrl, redacted: prep.redacted, legacy: prep.legacy },
              at,
            ),
          );
          break;
        case 'timeout':
          warnings.add(
            `GitLab at ${baseUrl} did not answer within ${cfg.budgetMs} ms; token ${prep.redacted} not verified`,
          );
          break;
        case 'network-error':
          warnings.add(
            `GitLab at ${baseUrl} unreachable (${a.code ?? 'network error'}); token ${prep.redacted} not verified`,
          );
          break;
        case 'server-error':
        case 'unexpected-status':
          warnings.add(
            `GitLab at ${baseUrl} answered HTTP ${a.status}; token ${prep.redacted} not verified`,
          );
          break;
      }
    }

    for (let i = 0; i < items.length; i++) {
      const r = results[i]!;
      emit(outcomeListeners, {
        outcome: r.outcome,
        source: r.source,
        ...(r.baseUrl !== undefined ? { baseUrl: r.baseUrl } : {}),
      });
    }
    return { findings, warnings: [...warnings], results };
  }

  return {
    verify: async (items, opts) => {
      try {
        return await verify(items, opts);
      } catch (e) {
        // Defensive: verification is advisory, a bug here must not turn into a failed admission.
        log.error(
          { err: { name: e instanceof Error ? e.name : 'unknown' } },
          'GitLab verification failed internally',
        );
        return {
          findings: [],
          warnings: ['GitLab verification failed internally; tokens not verified'],
          results: items.map(() => ({
            outcome: 'network-error' as const,
            source: 'none' as const,
          })),
        };
      }
    },
    onOutcome(cb) {
      outcomeListeners.add(cb);
      return () => outcomeListeners.delete(cb);
    },
    onRequest(cb) {
      requestListeners.add(cb);
      return () => requestListeners.delete(cb);
    },
    close() {
      ownFetch?.close();
      cache.clear();
    },
  };
}

function outcomeOf(status: number): RequestEvent['outcome'] {
  if (status === 200 || status === 201) return 'valid';
  if (status === 403) return 'rejected';
  if (status === 422) return 'orphaned';
  if (status >= 500 || status === 429) return 'server-error';
  return 'unexpected-status';
}

/** token_expires_at from a 200 body, as epoch ms; the body's `token` field is never kept. */
async function readExpiry(res: { text(): Promise<string> }): Promise<number | undefined> {
  try {
    const body = JSON.parse(await res.text()) as { token_expires_at?: unknown };
    if (typeof body.token_expires_at !== 'string') return undefined;
    const t = Date.parse(body.token_expires_at);
    return Number.isFinite(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

function isAbort(e: unknown): boolean {
  const name = e instanceof Error ? e.name : '';
  return name === 'AbortError' || name === 'TimeoutError';
}

/** A short, token-free code for a transport error (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, …). */
function errorCode(e: unknown): string | undefined {
  const pick = (x: unknown): string | undefined => {
    const code = (x as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code) ? code : undefined;
  };
  return pick(e) ?? pick((e as { cause?: unknown } | null)?.cause);
}
