import { defineRule } from '../rule.js';

/**
 * Rules on the values of the official gitlab-runner Helm chart (GRA5xx), wherever the values
 * sit: a values file, a Flux HelmRelease's spec.values, an Argo CD Application's helm values.
 * The chart (0.x, read from 0.86: templates/secrets.yaml, templates/configmap.yaml) renders
 * `runnerToken` into the Secret key `runner-token`, exported as CI_SERVER_TOKEN, and
 * `runnerRegistrationToken` into `runner-registration-token`, exported as REGISTRATION_TOKEN;
 * both go to `gitlab-runner register --template-config` at every pod start.
 */

export const REGISTRATION_TOKEN_IN_RUNNER_TOKEN_VALUE = defineRule<{ token: string }>({
  id: 'GRA501',
  severity: 'deny',
  title: 'registration token in chart value runnerToken',
  message: (p) =>
    `\`runnerToken\` holds ${p.token}, a registration token; the chart passes runnerToken to \`gitlab-runner register\` as ` +
    'CI_SERVER_TOKEN (the token of a runner that already exists), which fails with "Failed to verify the runner", so the runner never starts.',
  fix: () =>
    'create a runner in GitLab and put its glrt- token in a Secret (key `runner-token`) named by `runners.secret`; ' +
    'or, while registration tokens still work, move this one to `runnerRegistrationToken`.',
});

export const AUTH_TOKEN_IN_REGISTRATION_VALUE = defineRule<{ token: string; what: string }>({
  id: 'GRA502',
  severity: 'deny',
  title: 'authentication token in chart value runnerRegistrationToken',
  message: (p) =>
    `\`runnerRegistrationToken\` holds ${p.token}, ${p.what}; the chart passes it to \`gitlab-runner register\` as REGISTRATION_TOKEN. ` +
    'GitLab refuses an authentication token there; a glrt- token is accepted and only verified, but the chart then keeps ' +
    'registration options (tags, locked, run-untagged) that are fatal with an authentication token.',
  fix: () =>
    'move the token to `runnerToken` (better: to a Secret key `runner-token` named by `runners.secret`) and remove `runnerRegistrationToken`.',
});

export const FOREIGN_TOKEN_IN_CHART_VALUE = defineRule<{
  token: string;
  what: string;
  slot: string;
}>({
  id: 'GRA503',
  severity: 'deny',
  title: 'not a runner token in a chart token value',
  message: (p) =>
    `\`${p.slot}\` holds ${p.token}, ${p.what}, which is not a runner token; registration fails at every pod start.`,
  fix: () =>
    'revoke that token if it was exposed and use the glrt- token of a runner created in GitLab, from a Secret named by `runners.secret`.',
});

export const REGISTRATION_VALUE_IGNORED = defineRule({
  id: 'GRA504',
  severity: 'warn',
  title: 'runnerRegistrationToken is ignored because runnerToken is set',
  message: () =>
    'both `runnerToken` and `runnerRegistrationToken` are set; `gitlab-runner register` uses the token of the existing runner ' +
    '(CI_SERVER_TOKEN) when it is given, so runnerRegistrationToken is never used.',
  fix: () =>
    'remove `runnerRegistrationToken` (registration tokens are deprecated and off by default since GitLab 17.0).',
});

export const TOKEN_INLINE_IN_VALUES = defineRule<{
  token: string;
  what: string;
  slot: string;
  host: string;
}>({
  id: 'GRA505',
  severity: 'warn',
  title: 'runner token written inline in chart values',
  message: (p) =>
    `\`${p.slot}\` holds ${p.token}, ${p.what}, inline in the chart values, so the token is wherever ${p.host} is ` +
    '(git, `helm get values`, the Helm release Secret).',
  fix: () =>
    'create a Secret with key `runner-token` (and `runner-registration-token: ""`), name it in `runners.secret`, and remove the token from the values.',
});

export const CHART_VALUES_RULES = [
  REGISTRATION_TOKEN_IN_RUNNER_TOKEN_VALUE,
  AUTH_TOKEN_IN_REGISTRATION_VALUE,
  FOREIGN_TOKEN_IN_CHART_VALUE,
  REGISTRATION_VALUE_IGNORED,
  TOKEN_INLINE_IN_VALUES,
] as const;
