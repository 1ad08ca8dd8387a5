/**
 * Process settings, read once from the environment (the chart sets these). Takes an env object so
 * tests can pass their own. Every variable is checked here, at start: a wrong value stops the
 * process with one line naming the variable and the offending value (SettingsError), instead of
 * a setting silently ignored or a failure at the first review.
 */
import { readFileSync } from 'node:fs';
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
  /**
   * Bounded cost per review (docs/operations.md "Bounded cost"): bodies up to `inlineBytes` are
   * checked on the event loop; larger ones on `workers` worker threads, each review cut
   * `analysisMs` after its request arrived and each worker at `workerMemoryMb` of heap. A cut review gets the answer
   * the webhook's failurePolicy (`failurePolicy`, as the chart sets it) would give, saying why.
   */
  analysis: {
    inlineBytes: number;
    workers: number;
    analysisMs: number;
    workerMemoryMb: number;
    /** nice value of the worker threads (0-19): the event loop keeps the CPU when both want it */
    workerNice: number;
    /** a large body with more JSON values than this is answered unparsed (src/server/json-values.ts) */
    maxJsonValues: number;
    failurePolicy: 'Fail' | 'Ignore';
  };
  /** slow or idle clients: headers, whole request, keep-alive idle (ms) and open connections */
  connections: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
    max: number;
  };
  kube: { lookups: boolean; readSecrets: boolean; timeoutMs: number; cacheTtlMs: number };
  gitlab: { verify: boolean; allowlist: string[]; caFile?: string | undefined; budgetMs: number };
  service: { name: string; namespace: string };
  webhookConfigNames: { validating: string; mutating: string };
  shutdownGraceMs: number;
  /**
   * selfManaged certificate lifetimes (seconds; undefined = 10 years for the CA, 1 year for the
   * serving cert) and how often the Secret is re-read. Short values exist to watch renewal and
   * CA rotation happen (tests, staging); production keeps the defaults.
   */
  tls: { caValiditySeconds?: number; servingValiditySeconds?: number; recheckMs: number };
}

const CERT_MODES: readonly CertMode[] = ['dev', 'files', 'selfManaged', 'certManager'];
/** pino's levels (GRA_LOG_LEVEL is handed to pino, which throws on anything else) */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export class SettingsError extends Error {}

function int(
  env: NodeJS.ProcessEnv,
  name: string,
  dflt: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new SettingsError(
      max === Number.MAX_SAFE_INTEGER
        ? `${name} must be an integer >= ${min}, got "${raw}"`
        : `${name} must be an integer from ${min} to ${max}, got "${raw}"`,
    );
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new SettingsError(`${name} must be true or false, got "${raw}"`);
}

function port(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const n = int(env, name, dflt, 0);
  if (n > 65535)
    throw new SettingsError(`${name} must be a port number (0-65535), got "${env[name]}"`);
  return n;
}

/** Kubernetes object names: a Service and namespace are DNS-1123 labels, webhook configurations subdomains. */
function dnsName(
  env: NodeJS.ProcessEnv,
  name: string,
  dflt: string,
  kind: 'label' | 'subdomain',
): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const ok =
    kind === 'label'
      ? label.test(raw)
      : raw.length <= 253 && raw.split('.').every((l) => label.test(l));
  if (!ok)
    throw new SettingsError(
      `${name} must be a Kubernetes DNS-1123 ${kind} (lowercase letters, digits, '-'), got "${raw}"`,
    );
  return raw;
}

/**
 * GRA_GITLAB_ALLOWLIST: comma-separated https:// base URLs. Refused, not skipped:
 *  - no scheme (`gitlab.example.com`): it would never match, and every review would then say
 *    "not on the allowlist";
 *  - http://: runner tokens would travel in cleartext to that host on every review (GitLab
 *    itself answers over https; a plain-http in-cluster GitLab is reached through its https
 *    Service or not verified);
 *  - credentials (`https://user:pw@host`): the entry is printed in logs and errors, and the
 *    verifier never sends userinfo anyway. They are never echoed.
 */
function allowlist(env: NodeJS.ProcessEnv): string[] {
  const name = 'GRA_GITLAB_ALLOWLIST';
  const entries = (env[name] || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
      throw new SettingsError(
        `${name}: entry "${shown(entry)}" has no scheme; write it as https://${shown(entry)}`,
      );
    }
    let u: URL;
    try {
      u = new URL(entry);
    } catch {
      throw new SettingsError(`${name}: entry "${shown(entry)}" is not a URL`);
    }
    if (u.username !== '' || u.password !== '') {
      throw new SettingsError(
        `${name}: entry "${u.protocol}//(credentials removed)@${u.host}" holds credentials; list the base URL only`,
      );
    }
    if (u.protocol === 'http:') {
      throw new SettingsError(
        `${name}: entry "${shown(entry)}" uses http://, so runner tokens would travel in cleartext; use https://`,
      );
    }
    if (u.protocol !== 'https:')
      throw new SettingsError(`${name}: entry "${shown(entry)}" must be an https:// URL`);
    if (u.search !== '' || u.hash !== '')
      throw new SettingsError(
        `${name}: entry "${u.origin}${u.pathname}…" must not have a query or fragment`,
      );
  }
  return entries;
}

/** An entry as typed, minus any userinfo before the host (a password someone pasted). */
function shown(entry: string): string {
  return entry
    .replace(
      /^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i,
      (_m, scheme: string | undefined) => `${scheme ?? ''}(credentials removed)@`,
    )
    .slice(0, 200);
}

/** GRA_GITLAB_CA_FILE must name a readable file with a PEM certificate: checked now, not at the first verification. */
function caFile(env: NodeJS.ProcessEnv): string | undefined {
  const name = 'GRA_GITLAB_CA_FILE';
  const path = env[name];
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SettingsError(`${name}: cannot read "${path}" (${code})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new SettingsError(`${name}: "${path}" holds no PEM certificate`);
  return path;
}

function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  dflt: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new SettingsError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const gitlabVerify = bool(env, 'GRA_GITLAB_VERIFY', false);
  const gitlabAllowlist = allowlist(env);
  if (gitlabVerify && gitlabAllowlist.length === 0) {
    throw new SettingsError(
      'GRA_GITLAB_ALLOWLIST must list at least one https:// GitLab URL when GRA_GITLAB_VERIFY is true',
    );
  }
  return {
    host: env.GRA_HOST || '127.0.0.1',
    port: port(env, 'GRA_PORT', 8443),
    metricsPort: port(env, 'GRA_METRICS_PORT', 9090),
    mode: oneOf(env, 'GRA_MODE', MODES, 'enforce'),
    certMode: oneOf(env, 'GRA_CERT_MODE', CERT_MODES, 'dev'),
    certDir: env.GRA_CERT_DIR || 'certs',
    logLevel: oneOf(env, 'GRA_LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimit: int(env, 'GRA_BODY_LIMIT', 7 * 1024 * 1024, 1024),
    reviewBudgetMs: int(env, 'GRA_REVIEW_BUDGET_MS', 2500, 50),
    analysis: {
      inlineBytes: int(env, 'GRA_INLINE_BODY_BYTES', 32 * 1024, 0),
      workers: int(env, 'GRA_REVIEW_WORKERS', 1, 1),
      analysisMs: int(env, 'GRA_ANALYSIS_BUDGET_MS', 200, 10),
      workerMemoryMb: int(env, 'GRA_WORKER_MEMORY_MB', 64, 16),
      workerNice: int(env, 'GRA_WORKER_NICE', 10, 0, 19),
      maxJsonValues: int(env, 'GRA_MAX_JSON_VALUES', 250_000, 1000),
      failurePolicy: oneOf(env, 'GRA_FAILURE_POLICY', ['Fail', 'Ignore'] as const, 'Fail'),
    },
    connections: {
      headersTimeoutMs: int(env, 'GRA_HEADERS_TIMEOUT_MS', 10_000, 100),
      requestTimeoutMs: int(env, 'GRA_REQUEST_TIMEOUT_MS', 30_000, 100),
      // The apiserver reuses connections for up to 90 s idle; a shorter server keep-alive races
      // its reuse and shows up as sporadic "connection reset" admission failures.
      idleTimeoutMs: int(env, 'GRA_IDLE_TIMEOUT_MS', 120_000, 100),
      max: int(env, 'GRA_MAX_CONNECTIONS', 512, 1),
    },
    kube: {
      lookups: bool(env, 'GRA_KUBE_LOOKUPS', false),
      readSecrets: bool(env, 'GRA_KUBE_READ_SECRETS', false),
      timeoutMs: int(env, 'GRA_KUBE_TIMEOUT_MS', 1000, 10),
      cacheTtlMs: int(env, 'GRA_KUBE_CACHE_TTL_MS', 10000, 0),
    },
    gitlab: {
      verify: gitlabVerify,
      allowlist: gitlabAllowlist,
      caFile: caFile(env),
      budgetMs: int(env, 'GRA_GITLAB_BUDGET_MS', 2000, 10),
    },
    service: {
      name: dnsName(env, 'GRA_SERVICE_NAME', 'gitlab-runner-admission', 'label'),
      namespace: dnsName(env, 'GRA_NAMESPACE', 'gitlab-runner-admission', 'label'),
    },
    webhookConfigNames: {
      validating: dnsName(
        env,
        'GRA_VALIDATING_WEBHOOK_NAME',
        'gitlab-runner-admission',
        'subdomain',
      ),
      mutating: dnsName(env, 'GRA_MUTATING_WEBHOOK_NAME', 'gitlab-runner-admission', 'subdomain'),
    },
    shutdownGraceMs: int(env, 'GRA_SHUTDOWN_GRACE_MS', 20000, 0),
    tls: {
      ...(env.GRA_TLS_CA_VALIDITY_SECONDS
        ? { caValiditySeconds: int(env, 'GRA_TLS_CA_VALIDITY_SECONDS', 0, 60) }
        : {}),
      ...(env.GRA_TLS_SERVING_VALIDITY_SECONDS
        ? { servingValiditySeconds: int(env, 'GRA_TLS_SERVING_VALIDITY_SECONDS', 0, 30) }
        : {}),
      recheckMs: int(env, 'GRA_TLS_RECHECK_SECONDS', 300, 1) * 1000,
    },
  };
}
