/**
 * Process settings, read once from the environment (the chart sets these). Pure: takes
 * an env object so tests can pass their own.
 */
import { MODES, type Mode } from '../policy/mode.js';

// Re-exported for the edges that read a mode from their own input (paths, CLI flags).
export { isMode, type Mode } from '../policy/mode.js';

export type CertMode = 'dev' | 'files' | 'selfManaged' | 'certManager';

export interface Settings {
  host: string;
  port: number;
  metricsPort: number; // 0 disables the metrics listener
  mode: Mode;
  certMode: CertMode;
  /** directory holding tls.crt/tls.key (and ca.crt in dev mode) */
  certDir: string;
  logLevel: string;
  /** max AdmissionReview body in bytes (apiserver caps requests at ~3 MiB objects; 7 MiB leaves room) */
  bodyLimit: number;
  /** total time budget for one review, ms; never above the apiserver's ?timeout= */
  reviewBudgetMs: number;
  kube: { lookups: boolean; readSecrets: boolean; timeoutMs: number; cacheTtlMs: number };
  gitlab: { verify: boolean; allowlist: string[]; caFile?: string | undefined; budgetMs: number };
  service: { name: string; namespace: string };
  webhookConfigNames: { validating: string; mutating: string };
  shutdownGraceMs: number;
}

const CERT_MODES: readonly CertMode[] = ['dev', 'files', 'selfManaged', 'certManager'];

export class SettingsError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new SettingsError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new SettingsError(`${name} must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], dflt: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new SettingsError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    host: env.GRA_HOST || '127.0.0.1',
    port: int(env, 'GRA_PORT', 8443, 0),
    metricsPort: int(env, 'GRA_METRICS_PORT', 9090, 0),
    mode: oneOf(env, 'GRA_MODE', MODES, 'enforce'),
    certMode: oneOf(env, 'GRA_CERT_MODE', CERT_MODES, 'dev'),
    certDir: env.GRA_CERT_DIR || 'certs',
    logLevel: env.GRA_LOG_LEVEL || 'info',
    bodyLimit: int(env, 'GRA_BODY_LIMIT', 7 * 1024 * 1024, 1024),
    reviewBudgetMs: int(env, 'GRA_REVIEW_BUDGET_MS', 2500, 50),
    kube: {
      lookups: bool(env, 'GRA_KUBE_LOOKUPS', false),
      readSecrets: bool(env, 'GRA_KUBE_READ_SECRETS', false),
      timeoutMs: int(env, 'GRA_KUBE_TIMEOUT_MS', 1000, 10),
      cacheTtlMs: int(env, 'GRA_KUBE_CACHE_TTL_MS', 10000, 0),
    },
    gitlab: {
      verify: bool(env, 'GRA_GITLAB_VERIFY', false),
      allowlist: (env.GRA_GITLAB_ALLOWLIST || '').split(',').map((s) => s.trim()).filter(Boolean),
      caFile: env.GRA_GITLAB_CA_FILE || undefined,
      budgetMs: int(env, 'GRA_GITLAB_BUDGET_MS', 2000, 10),
    },
    service: { name: env.GRA_SERVICE_NAME || 'gitlab-runner-admission', namespace: env.GRA_NAMESPACE || 'gitlab-runner-admission' },
    webhookConfigNames: {
      validating: env.GRA_VALIDATING_WEBHOOK_NAME || 'gitlab-runner-admission',
      mutating: env.GRA_MUTATING_WEBHOOK_NAME || 'gitlab-runner-admission',
    },
    shutdownGraceMs: int(env, 'GRA_SHUTDOWN_GRACE_MS', 20000, 0),
  };
}
