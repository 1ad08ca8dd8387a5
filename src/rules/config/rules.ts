import { defineRule } from '../rule.js';

/**
 * Rules on a runner config.toml (GRA0xx). Facts: docs/facts.md §1-§2, §5.
 */

export const REGISTRATION_TOKEN_IN_CONFIG = defineRule<{ token: string }>({
  id: 'GRA001',
  severity: 'deny',
  title: 'registration token in [[runners]] token',
  message: (p) =>
    `token ${p.token} is a registration token, but \`token\` must hold a runner authentication token: ` +
    '`gitlab-runner run` never registers, so GitLab answers 403 Forbidden to every job request, forever.',
  fix: () =>
    'create a runner in GitLab (or run `gitlab-runner-admission create-runner`) and put its glrt- token in a Secret, ' +
    'or keep this registration token in a Secret key `runner-registration-token` and let the mutating webhook register at start.',
});

export const FOREIGN_TOKEN_IN_CONFIG = defineRule<{ token: string; what: string }>({
  id: 'GRA002',
  severity: 'deny',
  title: 'not a runner token in [[runners]] token',
  message: (p) =>
    `token ${p.token} is ${p.what}, not a runner authentication token; GitLab rejects it on every job request.`,
  fix: () =>
    'revoke that token if it was exposed, create a runner in GitLab and use its glrt- authentication token from a Secret.',
});

export const TOKEN_WHITESPACE = defineRule<{ token: string; where: string }>({
  id: 'GRA003',
  severity: 'deny',
  title: 'whitespace or newline in a token',
  message: (p) =>
    `${p.where} ${p.token} has whitespace or a newline in it; the runner sends it as an HTTP header and fails with "invalid header field".`,
  fix: () =>
    'remove the whitespace (use `echo -n` or `printf %s` when creating a Secret from a shell).',
});

export const INVALID_TOML = defineRule<{ error: string }>({
  id: 'GRA004',
  severity: 'deny',
  title: 'config.toml is not valid TOML',
  message: (p) =>
    `this runner config is not valid TOML (${p.error}); gitlab-runner fails to start with it.`,
  fix: () =>
    'correct the syntax at the line and column given (`gitlab-runner lint` also checks it).',
});

export const TOKEN_IN_CONFIGMAP = defineRule<{ token: string; what: string }>({
  id: 'GRA005',
  severity: 'warn',
  title: 'runner token stored in a ConfigMap',
  message: (p) =>
    `token ${p.token} (${p.what}) sits in a ConfigMap, which anyone with read access to ConfigMaps can see.`,
  fix: () =>
    'move the token to a Secret (key `runner-token`) and reference it, e.g. `token = "${RUNNER_TOKEN}"` with env from secretKeyRef (runner 18.10+).',
});

export const DUPLICATE_TOKEN = defineRule<{ token: string; other: number }>({
  id: 'GRA006',
  severity: 'warn',
  title: 'same token in two [[runners]] entries',
  message: (p) =>
    `token ${p.token} is also used by [[runners]] #${p.other}; one of the entries is usually stale and both act as the same runner.`,
  fix: () => 'remove the stale [[runners]] entry, or give each entry the token of its own runner.',
});

export const UNKNOWN_KEY = defineRule<{ key: string; suggestion?: string }>({
  id: 'GRA007',
  severity: 'warn',
  title: 'key gitlab-runner does not know',
  message: (p) =>
    p.key === 'state_file' || p.key.endsWith('.state_file')
      ? `\`${p.key}\` is not a gitlab-runner setting and is ignored: .runner_system_id always lives next to config.toml.`
      : `\`${p.key}\` is not a gitlab-runner setting and is silently ignored${p.suggestion ? `; did you mean \`${p.suggestion}\`?` : '.'}`,
  fix: (p) =>
    p.key === 'state_file' || p.key.endsWith('.state_file')
      ? 'remove it, and keep the directory of config.toml writable so the system id can be saved.'
      : p.suggestion
        ? `rename it to \`${p.suggestion}\`.`
        : 'remove it or correct its name (`gitlab-runner lint` lists the known keys).',
});

export const REGISTRATION_PLACEHOLDER = defineRule<{ token: string }>({
  id: 'GRA008',
  severity: 'warn',
  title: 'placeholder asks for a registration token in [[runners]] token',
  message: (p) =>
    `token ${p.token} is a placeholder that asks for a registration token, but \`token\` takes a runner authentication token; ` +
    '`gitlab-runner run` never registers.',
  fix: () =>
    'put the glrt- authentication token of a runner created in GitLab here (from a Secret), or register first with `gitlab-runner register`.',
});

export const LEGACY_AMBIGUOUS_TOKEN = defineRule<{ token: string }>({
  id: 'GRA009',
  severity: 'info',
  title: 'unprefixed legacy token: kind unknown offline',
  message: (p) =>
    `token ${p.token} has the legacy unprefixed shape, which registration and authentication tokens share; only GitLab can tell them apart.`,
  fix: () =>
    'enable online verification (GRA_GITLAB_VERIFY) or replace it with a glrt- token of a runner created in GitLab.',
});

export const UNLOADABLE_CONFIG = defineRule<{ reason: string }>({
  id: 'GRA010',
  severity: 'deny',
  title: 'config.toml gitlab-runner cannot load',
  message: (p) =>
    `gitlab-runner cannot load this config: ${p.reason}; \`gitlab-runner run\` exits at start.`,
  fix: () =>
    'write each runner as a `[[runners]]` table (or `runners = [{ … }]`) with string values for name, url, token and executor.',
});

export const AMBIGUOUS_KEY = defineRule<{ reason: string; lines: string }>({
  id: 'GRA011',
  severity: 'deny',
  title: 'two keys name one setting',
  message: (p) => `${p.reason} (lines ${p.lines}).`,
  fix: () => 'keep one of the keys, spelled exactly as gitlab-runner documents it (lower case).',
});

export const CONFIG_RULES = [
  REGISTRATION_TOKEN_IN_CONFIG,
  FOREIGN_TOKEN_IN_CONFIG,
  TOKEN_WHITESPACE,
  INVALID_TOML,
  TOKEN_IN_CONFIGMAP,
  DUPLICATE_TOKEN,
  UNKNOWN_KEY,
  REGISTRATION_PLACEHOLDER,
  LEGACY_AMBIGUOUS_TOKEN,
  UNLOADABLE_CONFIG,
  AMBIGUOUS_KEY,
] as const;
