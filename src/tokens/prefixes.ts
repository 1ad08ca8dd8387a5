/**
 * The public prefixes of runner tokens, as data for what cannot call the classifier: the chart's
 * CEL matchConditions (charts/gitlab-runner-admission/cel/secret.cel) test Secret values against
 * their base64. test/unit/chart-cel.test.ts recomputes those base64 prefixes from this list and
 * checks that the classifier (src/tokens) gives each prefix the kind named here.
 * Sources: gitlab `RunnersTokenPrefixable` (GR1348941), gitlab-runner helpers/shorten_token.go
 * (glrt-, glrtr-, t1_/t2_/t3_).
 */
export const RUNNER_TOKEN_PREFIXES: ReadonlyArray<{
  prefix: string;
  kind: 'registration' | 'auth';
  what: string;
}> = [
  { prefix: 'GR1348941', kind: 'registration', what: 'registration token' },
  { prefix: 'glrt-', kind: 'auth', what: 'authentication token' },
  { prefix: 'glrtr-', kind: 'auth', what: 'authentication token, routable' },
  { prefix: 't1_', kind: 'auth', what: 'instance runner authentication token' },
  { prefix: 't2_', kind: 'auth', what: 'group runner authentication token' },
  { prefix: 't3_', kind: 'auth', what: 'project runner authentication token' },
];

/** The base64 characters fully decided by `prefix`'s bytes: what every encoded value starting with it starts with. */
export function base64Prefix(prefix: string): string {
  const bytes = Buffer.byteLength(prefix);
  return Buffer.from(prefix)
    .toString('base64')
    .slice(0, Math.floor((bytes * 8) / 6));
}
