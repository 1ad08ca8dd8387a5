import { defineRule } from '../rule.js';

/**
 * Online verification rules (GRA3xx): what GitLab itself says about a runner token, asked through
 * `POST /api/v4/runners/verify` (docs/facts.md §3; GitLab Rails lib/api/ci/runner.rb: 200
 * credentials valid, 403 forbidden, 422 "Runner is orphaned"). Built by src/gitlab/verifier.ts.
 */

/** The fix every rejection points to; the same words in the webhook answer and in `check`. */
const NEW_TOKEN_FIX = (url: string): string =>
  `create a new runner in GitLab at ${url} (Settings > CI/CD > Runners > New runner, or ` +
  `\`GITLAB_TOKEN=... gitlab-runner-admission create-runner --url ${url} --type project --project-id N | kubectl apply -f -\`), ` +
  'then reference its glrt- token from the Secret key `runner-token` instead of this one.';

export const TOKEN_REJECTED = defineRule<{ url: string; token: string }>({
  id: 'GRA301',
  severity: 'deny',
  title: 'GitLab rejects this runner token',
  message: (p) =>
    `GitLab at ${p.url} rejects token ${p.token} (403 on /api/v4/runners/verify): runner deleted, token revoked, expired or rotated; ` +
    'the runner would get 403 Forbidden on every job request.',
  fix: (p) => NEW_TOKEN_FIX(p.url),
});

export const LEGACY_TOKEN_REJECTED = defineRule<{ url: string; token: string }>({
  id: 'GRA302',
  severity: 'deny',
  title: 'GitLab rejects this unprefixed token as a runner authentication token',
  message: (p) =>
    `GitLab at ${p.url} rejects unprefixed token ${p.token} as a runner authentication token (403 on /api/v4/runners/verify): ` +
    'it is most likely a legacy registration token, which `gitlab-runner run` can never use, ' +
    'or the token of a deleted runner.',
  fix: (p) => NEW_TOKEN_FIX(p.url),
});

export const RUNNER_ORPHANED = defineRule<{ url: string; token: string }>({
  id: 'GRA303',
  severity: 'deny',
  title: 'the runner of this token has no owner left',
  message: (p) =>
    `GitLab at ${p.url} knows token ${p.token} but answers 422 "Runner is orphaned": ` +
    'the project or group that owned this runner is gone, so it can never get a job.',
  fix: (p) => NEW_TOKEN_FIX(p.url),
});

export const LEGACY_TOKEN_CONFIRMED = defineRule<{ url: string; token: string }>({
  id: 'GRA304',
  severity: 'info',
  title: 'unprefixed token confirmed as a runner authentication token',
  message: (p) =>
    `GitLab at ${p.url} accepts unprefixed token ${p.token} as a runner authentication token (legacy format), ` +
    'so it is not a registration token.',
  fix: () =>
    'nothing is broken; to get a token that tools can classify offline, create a new runner in GitLab and use its glrt- token.',
});

export const GITLAB_RULES = [
  TOKEN_REJECTED,
  LEGACY_TOKEN_REJECTED,
  RUNNER_ORPHANED,
  LEGACY_TOKEN_CONFIRMED,
] as const;
