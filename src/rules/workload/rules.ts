import { defineRule } from '../rule.js';

/**
 * Rules on runner workloads: Deployment, StatefulSet, DaemonSet, Pod (GRA2xx).
 * Facts: docs/facts.md §2, §4, §5; gitlab-runner commands/register.go.
 * `where` is a short description of the slot, e.g. "env CI_SERVER_TOKEN" or "`register --token`".
 */

export const REGISTRATION_TOKEN_IN_AUTH_SLOT = defineRule<{ token: string; where: string }>({
  id: 'GRA201',
  severity: 'deny',
  title: 'registration token where an authentication token belongs',
  message: (p) =>
    `${p.where} gets ${p.token}, a registration token, but it takes a runner authentication token: ` +
    '`register --token` panics "Failed to verify the runner" and GitLab answers 403 to it.',
  fix: (p) =>
    `pass the registration token with \`--registration-token\` / REGISTRATION_TOKEN (Secret key \`runner-registration-token\`), or put a glrt- token of a runner created in GitLab into ${p.where}.`,
});

export const AUTH_TOKEN_IN_REGISTRATION_SLOT = defineRule<{
  token: string;
  where: string;
  what: string;
}>({
  id: 'GRA202',
  severity: 'deny',
  title: 'authentication token where a registration token belongs',
  message: (p) =>
    `${p.where} gets ${p.token}, ${p.what}, but it takes a registration token; ` +
    'register sends it to POST /api/v4/runners, which refuses it.',
  fix: () =>
    'pass an authentication token with `--token` / CI_SERVER_TOKEN (Secret key `runner-token`) instead.',
});

/**
 * Runner ≥ 15.10 treats a `glrt-` value given to `--registration-token` as an authentication
 * token (register.go: "If a runner token is specified in place of a registration token, let's
 * accept it"), so this works, but only on new runners and with the reserved options fatal.
 */
export const GLRT_IN_REGISTRATION_SLOT = defineRule<{ token: string; where: string }>({
  id: 'GRA203',
  severity: 'warn',
  title: 'glrt- authentication token passed as a registration token',
  message: (p) =>
    `${p.where} gets ${p.token}, an authentication token; runner 15.10+ accepts it there and only verifies it, ` +
    'older runners and every other token form fail.',
  fix: () =>
    'pass it with `--token` / CI_SERVER_TOKEN (Secret key `runner-token`), which says what it is.',
});

export const SLOT_FROM_WRONG_CHART_KEY = defineRule<{
  where: string;
  secret: string;
  key: string;
  expected: string;
}>({
  id: 'GRA204',
  severity: 'warn',
  title: 'token slot fed from the Secret key meant for the other token kind',
  message: (p) =>
    `${p.where} comes from Secret ${p.secret} key \`${p.key}\`, the key for the other token kind ` +
    `(the chart maps \`runner-registration-token\` to REGISTRATION_TOKEN and \`runner-token\` to CI_SERVER_TOKEN).`,
  fix: (p) =>
    `reference key \`${p.expected}\` instead, and keep each token kind under its own key.`,
});

export const RESERVED_OPTIONS_WITH_AUTH_TOKEN = defineRule<{ options: string; token: string }>({
  id: 'GRA205',
  severity: 'deny',
  title: 'reserved register options with an authentication token',
  message: (p) =>
    `register gets ${p.options} together with an authentication token (${p.token}); the runner stops with ` +
    '"Runner configuration other than name and executor configuration is reserved".',
  fix: () =>
    'remove these options (and REGISTER_*/RUNNER_TAG_LIST env) and set tags, locked, access level, timeout and paused on the runner in GitLab.',
});

export const TOKEN_AS_PLAIN_VALUE = defineRule<{ token: string; what: string; where: string }>({
  id: 'GRA206',
  severity: 'warn',
  title: 'runner token written into the manifest instead of a Secret',
  message: (p) =>
    `${p.where} holds ${p.token}, ${p.what}, in plain text, readable by anyone who can read this workload and in its last-applied annotation.`,
  fix: () =>
    'move the token to a Secret and use `valueFrom.secretKeyRef` (or `$(VAR)` of such an env) instead of the literal.',
});

export const REGISTER_CONFIG_READ_ONLY = defineRule<{
  path: string;
  volume: string;
  source: string;
}>({
  id: 'GRA207',
  severity: 'deny',
  title: 'register writes its config into a read-only mount',
  message: (p) =>
    `register writes ${p.path}, which is on volume ${p.volume} (${p.source}, always read-only), so registration can never save the token it gets.`,
  fix: () =>
    'let register write to a writable volume (emptyDir) and have `run` read it from there; copy the ConfigMap into it first and pass it as `--template-config`.',
});

export const TOKEN_WHITESPACE = defineRule<{ token: string; where: string }>({
  id: 'GRA208',
  severity: 'deny',
  title: 'whitespace or newline around a token',
  message: (p) =>
    `${p.where} has ${p.token} with whitespace or a newline in it; the runner sends it in an HTTP header and fails with "invalid header field".`,
  fix: () =>
    'remove the whitespace (use `echo -n` or `printf %s` when creating the Secret, `value: "…"` rather than a `|` block).',
});

/**
 * Info, not warn: a floating tag is a version-skew risk, not a token mistake, and real
 * manifests that work fine use it (corpus anuchito, ijzerbroot expect allow).
 */
export const FLOATING_RUNNER_IMAGE = defineRule<{ image: string }>({
  id: 'GRA209',
  severity: 'info',
  title: 'gitlab-runner image without a fixed version',
  message: (p) =>
    `image ${p.image} follows the newest runner release, so a restart can silently change the runner version (and its token and config handling).`,
  fix: () =>
    'pin a version tag such as `gitlab/gitlab-runner:v17.11.0` (or a digest) and upgrade on purpose.',
});

export const RUN_CONFIG_DIR_READ_ONLY = defineRule<{ dir: string; volume: string; source: string }>(
  {
    id: 'GRA210',
    severity: 'warn',
    title: '`run` uses a config directory on a read-only mount',
    message: (p) =>
      `\`run\` keeps its config in ${p.dir}, the read-only volume ${p.volume} (${p.source}): it cannot save .runner_system_id ` +
      '(every start is a new runner manager in GitLab) nor a rotated token.',
    fix: () =>
      'mount the ConfigMap elsewhere (e.g. /configmaps), copy config.toml into an emptyDir at the config directory in an initContainer, and run from there.',
  },
);

export const RUN_NEVER_AUTHENTICATES = defineRule<{
  source: string;
  runner: string;
  problem: string;
}>({
  id: 'GRA211',
  severity: 'deny',
  title: '`run` reads a config it can never authenticate with',
  message: (p) =>
    `\`run\` reads ${p.source} where ${p.runner} ${p.problem}, and nothing registers before it: \`run\` never registers, ` +
    'so GitLab answers 403 Forbidden to every job request.',
  fix: () =>
    'put a glrt- authentication token (from a Secret) into the config, or add a `register` step (initContainer) that writes the config `run` reads.',
});

export const ROTATING_TOKEN_READ_ONLY = defineRule<{ source: string; runner: string }>({
  id: 'GRA212',
  severity: 'warn',
  title: 'rotating token in a read-only config',
  message: (p) =>
    `${p.runner} in ${p.source} sets token_expires_at, so the runner rotates its token, but it cannot write the read-only config: ` +
    'after the next restart it uses the revoked old token and gets 403 forever.',
  fix: () =>
    'copy the config into a writable volume that survives restarts, or set FF_DISABLE_AUTOMATIC_TOKEN_ROTATION=true and rotate the Secret yourself.',
});

export const REPLICAS_SHARE_ROTATING_TOKEN = defineRule<{
  source: string;
  runner: string;
  replicas: string;
}>({
  id: 'GRA213',
  severity: 'warn',
  title: 'several pods share one rotating authentication token',
  message: (p) =>
    `${p.replicas} share the token of ${p.runner} in ${p.source}, which rotates (token_expires_at set): only the first manager to rotate ` +
    'gets the new token, the others are left with a revoked one.',
  fix: () =>
    'run one replica per token, or give each pod its own runner (register per pod) or disable automatic rotation.',
});

export const FOREIGN_TOKEN_IN_SLOT = defineRule<{ token: string; what: string; where: string }>({
  id: 'GRA214',
  severity: 'deny',
  title: 'not a runner token in a runner token slot',
  message: (p) =>
    `${p.where} gets ${p.token}, ${p.what}, which is not a runner token; GitLab refuses it.`,
  fix: () =>
    'revoke that token if it was exposed, and use a glrt- runner authentication token from a Secret.',
});

export const WORKLOAD_RULES = [
  REGISTRATION_TOKEN_IN_AUTH_SLOT,
  AUTH_TOKEN_IN_REGISTRATION_SLOT,
  GLRT_IN_REGISTRATION_SLOT,
  SLOT_FROM_WRONG_CHART_KEY,
  RESERVED_OPTIONS_WITH_AUTH_TOKEN,
  TOKEN_AS_PLAIN_VALUE,
  REGISTER_CONFIG_READ_ONLY,
  TOKEN_WHITESPACE,
  FLOATING_RUNNER_IMAGE,
  RUN_CONFIG_DIR_READ_ONLY,
  RUN_NEVER_AUTHENTICATES,
  ROTATING_TOKEN_READ_ONLY,
  REPLICAS_SHARE_ROTATING_TOKEN,
  FOREIGN_TOKEN_IN_SLOT,
] as const;
