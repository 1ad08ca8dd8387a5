/**
 * The built webhook (dist/) in a child process for the load scripts (bench, soak): started as
 * `npm start` and the image start it (src/server/runtime.ts), so its RSS and latency are the
 * product's, listening on 127.0.0.1:`port` with the certificates in `certDir`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const { MALLOC_ENV, NODE_FLAGS } = await import(path.join(root, 'dist/server/runtime.js'));

/** `nodeArgs` go before the entry point (e.g. --cpu-prof); `env` on top of the defaults. */
export function spawnWebhook({ port, certDir, nodeArgs = [], env = {} }) {
  return spawn(
    process.execPath,
    [...NODE_FLAGS, ...nodeArgs, path.join(root, 'dist/cli/main.js'), 'serve'],
    {
      env: {
        ...process.env,
        ...MALLOC_ENV,
        GRA_HOST: '127.0.0.1',
        GRA_PORT: String(port),
        GRA_METRICS_PORT: '0',
        GRA_CERT_DIR: certDir,
        GRA_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}
