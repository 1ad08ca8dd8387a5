import { defineRule } from '../rule.js';

/**
 * Rules on Secrets that use the official gitlab-runner chart's key names (GRA1xx): the chart maps
 * `runner-registration-token` to REGISTRATION_TOKEN and `runner-token` to CI_SERVER_TOKEN
 * (gitlab-runner chart 0.86 templates/configmap.yaml; docs/facts.md §4).
 */

export const REGISTRATION_TOKEN_IN_RUNNER_TOKEN_KEY = defineRule<{ token: string }>({
  id: 'GRA101',
  severity: 'deny',
  title: 'registration token under runner-token',
  message: (p) =>
    `key \`runner-token\` holds ${p.token}, a registration token; this key is used as CI_SERVER_TOKEN (an authentication token) and ` +
    '`register --token` with a registration token panics "Failed to verify the runner".',
  fix: () =>
    'move the registration token to key `runner-registration-token` and leave `runner-token` empty (or put a glrt- token there instead).',
});

export const AUTH_TOKEN_IN_REGISTRATION_KEY = defineRule<{ token: string; what: string }>({
  id: 'GRA102',
  severity: 'deny',
  title: 'authentication token under runner-registration-token',
  message: (p) =>
    `key \`runner-registration-token\` holds ${p.token}, ${p.what}; this key is used as REGISTRATION_TOKEN and GitLab refuses it there.`,
  fix: () =>
    'move the authentication token to key `runner-token` and leave `runner-registration-token` empty.',
});

export const BOTH_CHART_KEYS_SET = defineRule({
  id: 'GRA103',
  severity: 'deny',
  title: 'both runner-token and runner-registration-token set',
  message: () =>
    'both `runner-token` and `runner-registration-token` are set; the chart and the runner operators take one or the other, never both.',
  fix: () =>
    'keep only `runner-token` (a glrt- token of a runner created in GitLab) and set `runner-registration-token` to "".',
});

export const FOREIGN_TOKEN_IN_CHART_KEY = defineRule<{ token: string; what: string; key: string }>({
  id: 'GRA104',
  severity: 'deny',
  title: 'not a runner token in a runner token key',
  message: (p) => `key \`${p.key}\` holds ${p.token}, ${p.what}, which is not a runner token.`,
  fix: () =>
    'revoke that token if it was exposed and put the runner token of a runner created in GitLab here.',
});

export const INVALID_BASE64 = defineRule<{ key: string }>({
  id: 'GRA105',
  severity: 'warn',
  title: 'Secret data value is not valid base64',
  message: (p) => `\`data.${p.key}\` is not valid base64; the API server rejects this Secret.`,
  fix: () =>
    'base64-encode the value (`printf %s "$TOKEN" | base64 -w0`) or put the plain value under `stringData`.',
});

export const REGISTRATION_PLACEHOLDER_IN_RUNNER_TOKEN_KEY = defineRule<{ token: string }>({
  id: 'GRA106',
  severity: 'warn',
  title: 'runner-token value is named as a registration token',
  message: (p) =>
    `key \`runner-token\` holds ${p.token}, which says it is a registration token; \`runner-token\` takes an authentication token.`,
  fix: () =>
    'put a glrt- token here, or move the registration token to `runner-registration-token`.',
});

/**
 * register.go accepts a `glrt-` value given as a registration token and only verifies it
 * ("If a runner token is specified in place of a registration token, let's accept it"), so this
 * Secret works with the chart; the same rule in workloads is GRA203 (warn).
 */
export const GLRT_IN_REGISTRATION_KEY = defineRule<{ token: string }>({
  id: 'GRA107',
  severity: 'warn',
  title: 'glrt- token under runner-registration-token',
  message: (p) =>
    `key \`runner-registration-token\` holds ${p.token}, an authentication token; runner 15.10+ accepts it there and only verifies it, ` +
    'but the chart then also passes registration options that are fatal with an authentication token.',
  fix: () => 'move the token to key `runner-token` and leave `runner-registration-token` empty.',
});

export const SECRET_RULES = [
  GLRT_IN_REGISTRATION_KEY,
  REGISTRATION_TOKEN_IN_RUNNER_TOKEN_KEY,
  AUTH_TOKEN_IN_REGISTRATION_KEY,
  BOTH_CHART_KEYS_SET,
  FOREIGN_TOKEN_IN_CHART_KEY,
  INVALID_BASE64,
  REGISTRATION_PLACEHOLDER_IN_RUNNER_TOKEN_KEY,
] as const;
