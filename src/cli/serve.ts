import path from 'node:path';
import type { KubeConnection } from '../kube/client.js';
import type { KubeTarget } from '../kube/kubeconfig.js';
import pino from 'pino';
import type { ValidateDeps } from '../admission/validate.js';
import { createCertSource, type CertSourceDeps } from '../certs/source.js';
import type { VerifierDeps } from '../gitlab/verifier.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../metrics/server.js';
import { buildApp } from '../server/app.js';
import { createDrainer, drainPlan, type DrainPlan, type DrainResult } from '../server/shutdown.js';
import { loadSettings, SettingsError, type Settings } from '../settings/settings.js';

/**
 * The runtime assembly: settings → certificate source, optional adapters (Kubernetes lookups,
 * GitLab verification), metrics, the HTTPS app, signal handling. Everything that decides a
 * verdict lives elsewhere; this file only wires.
 */

const HELP = `Usage: gitlab-runner-admission serve

Starts the admission webhook over HTTPS, and Prometheus metrics over plain HTTP
on GRA_METRICS_PORT (0 disables). Settings come from the environment (see README
"Configuration"): GRA_HOST, GRA_PORT, GRA_MODE, GRA_CERT_MODE, GRA_CERT_DIR,
GRA_KUBE_LOOKUPS, GRA_GITLAB_VERIFY, GRA_SHUTDOWN_GRACE_MS, ...

On SIGTERM/SIGINT: readiness turns 503, reviews keep being answered for half of
GRA_SHUTDOWN_GRACE_MS (at most 10 s), then in-flight reviews finish and the
process exits (0; 1 if the grace ran out). A second signal exits at once.

Example:
  GRA_MODE=warn gitlab-runner-admission serve
`;

export function createLogger(
  settings: Pick<Settings, 'logLevel'>,
  destination?: pino.DestinationStream,
): pino.Logger {
  const opts: pino.LoggerOptions = {
    level: settings.logLevel,
    base: { service: 'gitlab-runner-admission' },
    // Defence in depth: no code path logs these, but a future one must not leak them either.
    redact: {
      paths: ['token', '*.token', 'req.headers.authorization', 'object', 'oldObject'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  let settings: Settings;
  try {
    settings = loadSettings();
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`gitlab-runner-admission: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(settings);
  let started: Started;
  try {
    started = await startServer(settings, logger);
  } catch (err) {
    // CertError and listen errors (EADDRINUSE) carry a one-line, token-free reason.
    logger.error(
      {
        event: 'start-failed',
        err: {
          type: err instanceof Error ? err.name : typeof err,
          code: (err as { code?: string })?.code,
        },
      },
      `cannot start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
    return 1;
  }
  let signals = 0;
  const onSignal = (sig: string) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now');
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal: sig }, 'shutting down');
    void started.drain().then(
      (r) => {
        logger.flush();
        process.exit(r === 'clean' ? 0 : 1);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return -1;
}

export interface Started {
  url: string;
  port: number;
  /** dev mode: the CA clients must trust */
  caPath?: string;
  /** http://host:port/metrics when the metrics listener is on */
  metricsUrl?: string;
  metrics: Metrics;
  /** the SIGTERM path: drainPlan(settings.shutdownGraceMs) unless given, then every resource closed */
  drain(plan?: DrainPlan): Promise<DrainResult>;
  /** for tests and embedding: the same drain without the listen period */
  shutdown(): Promise<void>;
}

/** Test seams; production passes none. */
export interface StartOptions {
  /** Kubernetes lookups and selfManaged certs; default: KUBECONFIG / in-cluster / ~/.kube/config */
  kube?: KubeTarget;
  certDeps?: CertSourceDeps;
  verifierDeps?: VerifierDeps;
  metrics?: Metrics;
  /** start the metrics listener on this port even when settings.metricsPort is 0 (0 here: any free port) */
  metricsPort?: number;
}

export async function startServer(
  settings: Settings,
  logger: pino.Logger,
  opts: StartOptions = {},
): Promise<Started> {
  const closers: Array<() => unknown> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch {
        // keep closing the rest
      }
    }
  };
  try {
    const metrics = opts.metrics ?? createMetrics();
    // One API connection (one keep-alive agent) for lookups and selfManaged certs alike.
    let kube: KubeConnection | undefined = opts.certDeps?.kube;
    if (!kube && (settings.kube.lookups || settings.certMode === 'selfManaged')) {
      kube = await (await import('../kube/client.js')).connectKube(opts.kube);
      const client = kube.client;
      if (client) closers.push(() => client.close());
    }
    const certs = await createCertSource(settings, logger, {
      ...opts.certDeps,
      ...(kube ? { kube } : {}),
    });
    closers.push(() => certs.close());
    metrics.trackCerts(certs);

    const deps: ValidateDeps = {};
    if (settings.kube.lookups && kube) {
      const { createLookups } = await import('../kube/lookups.js');
      deps.lookups = metrics.instrumentLookups(createLookups(settings, logger, kube));
    }
    if (settings.gitlab.verify) {
      const { createVerifier } = await import('../gitlab/verifier.js');
      const verifier = createVerifier(settings.gitlab, logger, opts.verifierDeps);
      closers.push(metrics.instrumentVerifier(verifier));
      closers.push(() => verifier.close());
      deps.verifier = verifier;
    }

    const app = buildApp({ settings, logger, certs, deps, observer: metrics.observer });
    const drainer = createDrainer(app, logger, () => metrics.setDraining(true));
    await app.fastify.listen({ host: settings.host, port: settings.port });
    const addr = app.fastify.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : settings.port;
    const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
    const url = `https://${host}:${port}`;

    // Same address as the webhook: 127.0.0.1 on a laptop, GRA_HOST (0.0.0.0) in the pod so Prometheus reaches it.
    let metricsServer: MetricsServer | undefined;
    const metricsPort =
      opts.metricsPort ?? (settings.metricsPort > 0 ? settings.metricsPort : undefined);
    if (metricsPort !== undefined) {
      try {
        metricsServer = await startMetricsServer(metrics, settings.host, metricsPort);
      } catch (err) {
        await app.fastify.close();
        throw err;
      }
    }

    const caPath =
      settings.certMode === 'dev' ? path.resolve(settings.certDir, 'ca.crt') : undefined;
    logger.info(
      {
        url,
        metrics: metricsServer?.url,
        mode: settings.mode,
        certMode: settings.certMode,
        lookups: settings.kube.lookups,
        gitlabVerify: settings.gitlab.verify,
        ca: caPath,
      },
      'gitlab-runner-admission listening',
    );
    if (caPath && process.stdout.isTTY)
      process.stdout.write(`\nwebhook on ${url} — trust ${caPath} (curl --cacert ${caPath})\n\n`);

    const drain = async (
      plan: DrainPlan = drainPlan(settings.shutdownGraceMs),
    ): Promise<DrainResult> => {
      const r = await drainer.drain(plan);
      // Metrics last, so a scrape during the drain still sees it.
      await closeAll();
      await metricsServer?.close();
      return r;
    };
    return {
      url,
      port,
      ...(caPath ? { caPath } : {}),
      ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
      metrics,
      drain,
      shutdown: async () => {
        await drain({ listenMs: 0, deadlineMs: settings.shutdownGraceMs });
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
