import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { buildApp } from '../../src/server/app.js';
import { loadSettings } from '../../src/settings/settings.js';
import { fixturesDir, readYamlDocs } from '../helpers/fixtures.js';
import { request, review } from '../helpers/server.js';

/**
 * When an adapter breaks its contract and throws, both webhooks still answer within the
 * contract: allowed, no patch, and a warning that says what could not be checked.
 */

const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-fail-'));
const dev = await ensureDevCerts(dir);
const settings = loadSettings({ GRA_PORT: '0', GRA_CERT_DIR: dir });
const app = buildApp({
  settings,
  logger: pino({ level: 'silent' }),
  certs: { current: () => ({ key: dev.key, cert: dev.cert }), ready: () => true },
  deps: {
    lookups: {
      resolve: async () => {
        throw new Error('lookup exploded');
      },
    },
  },
});
await app.fastify.listen({ host: '127.0.0.1', port: 0 });
const port = (app.fastify.server.address() as { port: number }).port;
t.teardown(async () => {
  await app.fastify.close();
  await rm(dir, { recursive: true, force: true });
});

const dep = readYamlDocs(path.join(fixturesDir, 'seed/deployment-run.yaml'))[0];
dep.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };

t.test('/mutate fails open with a warning', async (t) => {
  const body = review(dep);
  const res = await request(
    `https://127.0.0.1:${port}/mutate`,
    dev.ca,
    'POST',
    JSON.stringify(body),
    { 'content-type': 'application/json' },
  );
  t.equal(res.status, 200);
  t.equal(res.json.response.uid, body.request.uid);
  t.equal(res.json.response.allowed, true);
  t.notOk(res.json.response.patch, 'nothing injected');
  t.match(res.json.response.warnings[0], /GRA402|internal error/, 'says why nothing was injected');
});

t.test('/validate decides without the broken dependency and says so', async (t) => {
  const body = review(dep);
  const res = await request(
    `https://127.0.0.1:${port}/validate`,
    dev.ca,
    'POST',
    JSON.stringify(body),
    { 'content-type': 'application/json' },
  );
  t.equal(res.status, 200);
  t.equal(res.json.response.uid, body.request.uid);
  t.equal(res.json.response.allowed, true, 'the offline rules alone do not deny this Deployment');
  t.ok(
    res.json.response.warnings.some((w: string) =>
      /lookup: reading the referenced objects failed/.test(w),
    ),
    'warns that the lookup failed',
  );
  t.notOk(JSON.stringify(res.json).includes('exploded'), 'no internals in the answer');
  const ok = await request(`https://127.0.0.1:${port}/healthz`, dev.ca, 'GET');
  t.equal(ok.status, 200, 'process still serving');
});
