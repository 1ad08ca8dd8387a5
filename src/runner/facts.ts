/**
 * Facts about GitLab Runner and its official Helm chart that more than one rule or adapter
 * relies on, written once. Each names its primary source; docs/facts.md explains them.
 * Pure data: every layer may import this module.
 */

/**
 * The official chart's Secret keys (gitlab-org/charts/gitlab-runner `templates/secrets.yaml`
 * and the `envVars` of `templates/deployment.yaml`, which read `runner-token` into
 * CI_SERVER_TOKEN and `runner-registration-token` into REGISTRATION_TOKEN). The official
 * operator and alekc's operator take a Secret with the same keys, so one Secret serves them
 * and this webhook.
 */
export const CHART_KEYS = {
  /** holds a runner authentication token (glrt-…) */
  runnerToken: 'runner-token',
  /** holds a registration token (GR1348941…), exchanged once by `gitlab-runner register` */
  registrationToken: 'runner-registration-token',
} as const;

/**
 * Environment variables `gitlab-runner register` reads its token flags from (gitlab-runner
 * `commands/register.go`: `--registration-token` env REGISTRATION_TOKEN; `common/config.go`
 * RunnerCredentials `--token` env CI_SERVER_TOKEN).
 */
export const TOKEN_ENV = {
  /** `register -t/--token`: an authentication token */
  auth: 'CI_SERVER_TOKEN',
  /** `register -r/--registration-token`: a registration token */
  registration: 'REGISTRATION_TOKEN',
} as const;

/** `--config` from the environment (gitlab-runner `commands/config.go`, env CONFIG_FILE). */
export const CONFIG_FILE_ENV = 'CONFIG_FILE';

/**
 * Default config file: root → /etc/gitlab-runner/config.toml, otherwise
 * $HOME/.gitlab-runner/config.toml (gitlab-runner `commands/config.go` getDefaultConfigFile).
 * HOME of the images' gitlab-runner user (uid 999) is /home/gitlab-runner.
 */
export const ROOT_CONFIG = '/etc/gitlab-runner/config.toml';
export const NONROOT_CONFIG = '/home/gitlab-runner/.gitlab-runner/config.toml';

/**
 * Kinds whose pod spec the webhooks check and mutate. The chart's webhook rules and CEL
 * `matchConditions` (charts/gitlab-runner-admission/templates/) list the same kinds: change
 * them together.
 */
export const WORKLOAD_KINDS: ReadonlySet<string> = new Set([
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Pod',
]);
