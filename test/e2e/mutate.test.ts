import t, { type Test } from 'tap';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import fjp from 'fast-json-patch';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { createLogger } from '../../src/cli/serve.js';
import { createLookups } from '../../src/kube/lookups.js';
import { buildApp } from '../../src/server/app.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import {
  fixturesDir,
  listFiles,
  readJson,
  readYamlDocs,
  SEED_REG_TOKEN,
} from '../helpers/fixtures.js';
import { request, review, startTestServer } from '../helpers/server.js';

/**
 * POST /mutate over real HTTPS. First the server as `serve` starts it (no lookups): nothing is
 * patched, an annotated workload gets a warning. Then a server wired to the Kubernetes lookups
 * adapter against a fake API on 127.0.0.1 holding the seed's ConfigMap and Secret: the seed
 * Deployment is patched, the patch applies, and re-admitting the result gives no patch.
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];

function assertContract(t: Test, body: any, res: { status: number; json: any }) {
  t.equal(res.status, 200);
  t.equal(res.json.apiVersion, 'admission.k8s.io/v1');
  t.equal(res.json.kind, 'AdmissionReview');
  t.equal(res.json.response.uid, body.request.uid);
  t.equal(res.json.response.allowed, true, '/mutate never denies');
  t.equal(
    'patch' in res.json.response,
    'patchType' in res.json.response,
    'patchType exactly when there is a patch',
  );
  for (const w of res.json.response.warnings ?? [])
    t.ok(w.length <= 120, `warning within 120 chars: ${w}`);
}

t.test('default server (no lookups): every fixture answered, none patched', async (t) => {
  const srv = await startTestServer();
  t.teardown(() => srv.close());
  for (const f of listFiles(path.join(fixturesDir, 'admission')).filter((x) =>
    x.endsWith('.json'),
  )) {
    const body = readJson(path.join(fixturesDir, 'admission', f));
    const res = await srv.post('/mutate', body);
    assertContract(t, body, res);
    t.notOk(res.json.response.patch, `${f}: no patch without lookups`);
  }
  const d = seed('deployment-run.yaml');
  d.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
  const body = review(d);
  const res = await srv.post('/mutate', body);
  assertContract(t, body, res);
  t.match(res.json.response.warnings, [/^GRA407 /], 'says lookups are needed');
});

t.test(
  'server with lookups against a fake Kubernetes API: the seed Deployment is patched once',
  async (t) => {
    const api = await startFakeKubeApi();
    t.teardown(() => api.close());
    api.put(seed('configmap-template.yaml'));
    api.put(seed('secret-runner-tokens.yaml'));

    const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-mutate-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    // long budgets: under the test's TypeScript loader a worker thread compiles the core first,
    // and the analysis budget counts that wait (it runs from the request's arrival)
    const settings = loadSettings({
      GRA_PORT: '0',
      GRA_CERT_DIR: dir,
      GRA_LOG_LEVEL: 'silent',
      GRA_KUBE_LOOKUPS: 'true',
      GRA_REVIEW_BUDGET_MS: '25000',
      GRA_ANALYSIS_BUDGET_MS: '20000',
    });
    const logger = createLogger(settings);
    const dev = await ensureDevCerts(dir);
    const lookups = createLookups(settings, logger, api.connection());
    const app = buildApp({
      settings,
      logger,
      certs: { current: () => ({ key: dev.key, cert: dev.cert }), ready: () => true },
      deps: { lookups },
    });
    await app.fastify.listen({ host: '127.0.0.1', port: 0 });
    t.teardown(() => app.fastify.close());
    const addr = app.fastify.server.address();
    const url = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const ca = dev.ca;
    const agent = new https.Agent({ keepAlive: true, ca });
    t.teardown(() => agent.destroy());
    const post = (body: unknown) =>
      request(
        `${url}/mutate`,
        ca,
        'POST',
        JSON.stringify(body),
        { 'content-type': 'application/json' },
        agent,
      );

    const d = seed('deployment-run.yaml');
    d.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
    const body = review(d);
    const res = await post(body);
    assertContract(t, body, res);
    t.equal(res.json.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(res.json.response.patch, 'base64').toString('utf8'));
    const stored = fjp.applyPatch(structuredClone(d), ops, true, false).newDocument as any;
    const init = stored.spec.template.spec.initContainers[0];
    t.equal(init.name, 'register-runner');
    t.equal(init.image, d.spec.template.spec.containers[0].image);
    t.notOk(JSON.stringify(stored).includes(SEED_REG_TOKEN), 'no token in the stored object');
    t.ok(
      api.requests.some(
        (q) => q.kind === 'ConfigMap' && q.name === 'gitlab-runner-config' && q.status === 200,
      ),
      'the ConfigMap was read through the API',
    );
    t.notOk(
      api.requests.some((q) => q.kind === 'Secret'),
      'Secrets are not read by default',
    );

    const again = review(stored, { operation: 'UPDATE', oldObject: stored });
    const res2 = await post(again);
    assertContract(t, again, res2);
    t.notOk(res2.json.response.patch, 're-admission of the stored object: no patch');

    // /validate on the same server accepts the stored object
    const v = await request(
      `${url}/validate`,
      ca,
      'POST',
      JSON.stringify(review(stored)),
      { 'content-type': 'application/json' },
      agent,
    );
    t.equal(v.json.response.allowed, true, 'the validating webhook admits the mutated Deployment');

    // ConfigMap missing → no patch, one warning saying why
    api.remove('v1', 'ConfigMap', 'gitlab-runner', 'gitlab-runner-config');
    lookups.clearCache();
    const res3 = await post(review(d));
    t.notOk(res3.json.response.patch);
    t.match(res3.json.response.warnings, [/^GRA402 /]);

    // a forbidden lookup degrades the same way
    api.put(seed('configmap-template.yaml'));
    api.failNext(403);
    const res4 = await post(review(d));
    t.notOk(res4.json.response.patch);
    t.match(res4.json.response.warnings, [/^GRA402 /]);

    // Padded past GRA_INLINE_BODY_BYTES, the same Deployment is reviewed on a worker thread; the
    // lookups it needs still go through this thread's adapter, and the patch is the same.
    lookups.clearCache();
    const before = api.requests.length;
    const padded = structuredClone(d);
    padded.metadata.annotations.pad = 'x'.repeat(48 * 1024);
    const res5 = await request(
      `${url}/mutate?timeout=30s`,
      ca,
      'POST',
      JSON.stringify(review(padded)),
      { 'content-type': 'application/json' },
      agent,
    );
    t.equal(
      res5.json?.response?.patchType,
      'JSONPatch',
      `patched on the worker: ${JSON.stringify(res5.json?.response?.warnings ?? res5.text).slice(0, 200)}`,
    );
    t.same(
      JSON.parse(Buffer.from(res5.json.response.patch, 'base64').toString('utf8')),
      ops,
      'the same patch',
    );
    t.ok(
      api.requests.slice(before).some((q) => q.kind === 'ConfigMap' && q.status === 200),
      'the ConfigMap was read for the worker',
    );
  },
);
