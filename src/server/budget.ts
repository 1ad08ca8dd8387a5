import type { Logger } from 'pino';
import type { Lookups, ValidateDeps, TokenVerifier } from '../admission/validate.js';

/**
 * The last line of the review budget. The adapters bound themselves (src/kube/lookups.ts,
 * src/gitlab/verifier.ts), but a verdict must never depend on that: if a dependency has not
 * answered by the deadline, the review goes on without it (fail open, one warning). Past the
 * apiserver's `?timeout=` its failurePolicy decides instead of us, which with `Fail` blocks every
 * `kubectl apply` of a runner while GitLab or the API is slow.
 */

/** Time kept back to evaluate, decide and write the response after giving up on a dependency. */
export const DECIDE_MARGIN_MS = 25;

export const LOOKUPS_LATE =
  'lookup: the Kubernetes API did not answer within the review budget; decided without the referenced objects';
export const LOOKUPS_FAILED = 'lookup: reading the referenced objects failed; decided without them';
export const VERIFIER_LATE =
  'GitLab verification: no answer within the review budget; tokens were not verified online';
export const VERIFIER_FAILED = 'GitLab verification failed; tokens were not verified online';

export type Dependency = 'lookups' | 'verifier';

export interface GuardOptions {
  log: Pick<Logger, 'warn'>;
  onExceeded?(dep: Dependency): void;
}

async function withinBudget<T>(
  dep: Dependency,
  run: () => Promise<T>,
  deadline: number,
  late: () => T,
  failed: () => T,
  opts: GuardOptions,
): Promise<T> {
  const left = deadline - Date.now() - DECIDE_MARGIN_MS;
  const exceeded = (): T => {
    opts.log.warn(
      { event: 'budget-exceeded', dependency: dep },
      `${dep} did not answer within the review budget; deciding without it`,
    );
    try {
      opts.onExceeded?.(dep);
    } catch {
      // a metrics bug must not change a verdict
    }
    return late();
  };
  if (left <= 0) return exceeded();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(exceeded()), left);
  });
  const call = Promise.resolve()
    .then(run)
    .catch((err: unknown) => {
      opts.log.warn(
        {
          event: 'dependency-failed',
          dependency: dep,
          err: { type: err instanceof Error ? err.name : typeof err },
        },
        `${dep} failed; deciding without it`,
      );
      return failed();
    });
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Same deps, each call bounded by the review deadline and never throwing. */
export function guardDeps(deps: ValidateDeps, opts: GuardOptions): ValidateDeps {
  // Spread first: deps added later (e.g. for /mutate) pass through unguarded rather than vanish.
  const out: ValidateDeps = { ...deps };
  const l = deps.lookups;
  if (l) {
    const late = () => ({ warnings: [LOOKUPS_LATE] });
    const failed = () => ({ warnings: [LOOKUPS_FAILED] });
    const lookups: Lookups = {
      resolve: (obj, ns, deadline) =>
        withinBudget('lookups', () => l.resolve(obj, ns, deadline), deadline, late, failed, opts),
    };
    const refs = l.resolveRefs?.bind(l);
    if (refs)
      lookups.resolveRefs = (want, ns, deadline) =>
        withinBudget('lookups', () => refs(want, ns, deadline), deadline, late, failed, opts);
    out.lookups = lookups;
  }
  const v = deps.verifier;
  if (v) {
    const verifier: TokenVerifier = {
      verify: (items, o) =>
        withinBudget(
          'verifier',
          () => v.verify(items, o),
          o.deadline,
          () => ({ findings: [], warnings: [VERIFIER_LATE] }),
          () => ({ findings: [], warnings: [VERIFIER_FAILED] }),
          opts,
        ),
    };
    out.verifier = verifier;
  }
  return out;
}
