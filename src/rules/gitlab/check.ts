import type { Finding } from '../../findings/types.js';
import { makeFinding, type Location } from '../rule.js';
import {
  LEGACY_TOKEN_CONFIRMED,
  LEGACY_TOKEN_REJECTED,
  RUNNER_ORPHANED,
  TOKEN_REJECTED,
} from './rules.js';

/**
 * What GitLab's answer to `POST /api/v4/runners/verify` means for one token (GitLab
 * `lib/api/ci/runner.rb` `post '/verify'`; GitLab docs, Runners API, "Verify authentication for
 * a registered runner"): 200 the token authenticates a runner, 403 it does not (unknown,
 * revoked, expired or rotated), 422 the runner is gone (orphaned). Pure; the adapter
 * (src/gitlab/verifier.ts) makes the call and says why an answer is missing.
 */
export type VerifyAnswer = 'valid' | 'rejected' | 'orphaned';

export function verifyFindings(
  answer: VerifyAnswer,
  token: { url: string; redacted: string; legacy: boolean },
  at: Location,
): Finding[] {
  const params = { url: token.url, token: token.redacted };
  switch (answer) {
    case 'valid':
      // an unprefixed token GitLab accepts is an authentication token after all (GRA304)
      return token.legacy ? [makeFinding(LEGACY_TOKEN_CONFIRMED, params, at)] : [];
    case 'rejected':
      return [makeFinding(token.legacy ? LEGACY_TOKEN_REJECTED : TOKEN_REJECTED, params, at)];
    case 'orphaned':
      return [makeFinding(RUNNER_ORPHANED, params, at)];
  }
}
