import { defineRule } from '../rule.js';

/**
 * Mutation outcomes (GRA4xx). The mutating webhook never denies: these are the warnings it
 * returns when a workload needs a registration step it could not inject, and the info record of
 * an injection. Semantics: docs/mutation.md; facts: docs/facts.md §2 and §4.
 */

export const INJECTED = defineRule<{ summary: string }>({
  id: 'GRA401',
  severity: 'info',
  title: 'registration initContainer injected',
  message: (p) => `injected initContainer register-runner: ${p.summary}.`,
  fix: () =>
    'nothing to do; see the gitlab-runner-admission/injected annotation. Opt out with gitlab-runner-admission/inject: "false".',
});

export const NOT_INJECTED_LOOKUP = defineRule<{ reason: string }>({
  id: 'GRA402',
  severity: 'warn',
  title: 'not injected: config lookup failed',
  message: (p) =>
    `the registration initContainer was not injected because the runner config could not be read: ${p.reason}.`,
  fix: () =>
    'let the webhook read the ConfigMap (GRA_KUBE_LOOKUPS=true, RBAC get on configmaps; secrets only with GRA_KUBE_READ_SECRETS) and re-apply.',
});

export const NOT_INJECTED_NO_TOKEN_SOURCE = defineRule<{ runner: string }>({
  id: 'GRA403',
  severity: 'warn',
  title: 'not injected: no token Secret named',
  message: (p) =>
    `${p.runner} has no usable token and nothing registers it, but the workload names no token source, so no registration step was injected.`,
  fix: () =>
    'annotate the workload with gitlab-runner-admission/token-secret: <Secret with runner-token or runner-registration-token>, or put a glrt- token in the config.',
});

export const NOT_INJECTED_UNSAFE_SPLIT = defineRule<{ reason: string }>({
  id: 'GRA404',
  severity: 'warn',
  title: 'not injected: config.toml cannot be split safely',
  message: (p) =>
    `the init step splits config.toml into its global part and one template per [[runners]] with a line scanner, and on this config ${p.reason}.`,
  fix: () =>
    'write table headers on lines of their own, keep url/name/executor as "basic strings" before sub-tables, and re-apply.',
});

export const NOT_INJECTED_UNSUPPORTED = defineRule<{ reason: string }>({
  id: 'GRA405',
  severity: 'warn',
  title: 'not injected: unsupported workload shape',
  message: (p) => `the registration initContainer was not injected: ${p.reason}.`,
  fix: () =>
    'add the registration step yourself (see docs/mutation.md for the injected shape), or opt out with gitlab-runner-admission/inject: "false".',
});

export const INJECTED_WITHOUT_PRESTOP = defineRule({
  id: 'GRA406',
  severity: 'warn',
  title: 'injected without preStop unregister',
  message: () =>
    'the runner container already has a preStop hook, so `gitlab-runner unregister` was not added: every pod that ends leaves a stale runner in GitLab.',
  fix: () =>
    'call `gitlab-runner unregister --all-runners --config <config>` from your preStop hook when /…/.gra-unregister-on-stop exists.',
});

export const NOT_INJECTED_NO_LOOKUPS = defineRule({
  id: 'GRA407',
  severity: 'warn',
  title: 'not injected: Kubernetes lookups are off',
  message: () =>
    'the workload asks for a registration step (gitlab-runner-admission/token-secret) but the webhook runs without Kubernetes lookups, so it cannot read the config it would register.',
  fix: () => 'enable lookups (chart value kube.lookups / GRA_KUBE_LOOKUPS=true) and re-apply.',
});

export const MUTATION_RULES = [
  INJECTED,
  NOT_INJECTED_LOOKUP,
  NOT_INJECTED_NO_TOKEN_SOURCE,
  NOT_INJECTED_UNSAFE_SPLIT,
  NOT_INJECTED_UNSUPPORTED,
  INJECTED_WITHOUT_PRESTOP,
  NOT_INJECTED_NO_LOOKUPS,
];
