import path from 'node:path';
import pino from 'pino';
import { ensureDevCerts } from '../certs/dev.js';
import { buildApp, type ServerCerts } from '../server/app.js';
import { loadSettings, SettingsError, type Settings } from '../settings/settings.js';

const HELP = `Usage: gitlab-runner-admission serve

Starts the admission webhook over HTTPS. Settings come from the environment
(see README "Configuration"): GRA_HOST, GRA_PORT, GRA_MODE, GRA_CERT_MODE, GRA_CERT_DIR, ...

Example:
  GRA_MODE=warn gitlab-runner-admission serve
`;

export function createLogger(settings: Pick<Settings, 'logLevel'>): pino.Logger {
  return pino({
    level: settings.logLevel,
    base: { service: 'gitlab-runner-admission' },
    // Defence in depth: no code path logs these, but a future one must not leak them either.
    redact: { paths: ['token', '*.token', 'req.headers.authorization', 'object', 'oldObject'], censor: '[redacted]' },
  });
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
  const started = await startServer(settings, logger);
  const onSignal = (sig: string) => {
    logger.info({ signal: sig }, 'shutting down');
    void started.shutdown().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  return -1;
}

export interface Started {
  url: string;
  port: number;
  caPath?: string;
  shutdown(): Promise<void>;
}

async function certsFor(settings: Settings): Promise<{ certs: ServerCerts; caPath?: string }> {
  const dev = await ensureDevCerts(settings.certDir);
  const material = { key: dev.key, cert: dev.cert };
  return { certs: { current: () => material, ready: () => true }, caPath: dev.caPath };
}

export async function startServer(settings: Settings, logger: pino.Logger): Promise<Started> {
  const { certs, caPath } = await certsFor(settings);
  const app = buildApp({ settings, logger, certs });
  await app.fastify.listen({ host: settings.host, port: settings.port });
  const addr = app.fastify.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : settings.port;
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  const url = `https://${host}:${port}`;
  logger.info({ url, mode: settings.mode, certMode: settings.certMode, ca: caPath && path.resolve(caPath) }, 'gitlab-runner-admission listening');
  if (caPath && process.stdout.isTTY) process.stdout.write(`\nwebhook on ${url} — trust ${path.resolve(caPath)} (curl --cacert ${caPath})\n\n`);
  return {
    url,
    port,
    ...(caPath ? { caPath } : {}),
    shutdown: async () => {
      app.setDraining(true);
      await app.fastify.close();
    },
  };
}
