import t, { type Test } from 'tap';
import path from 'node:path';
import { connectKube } from '../../src/kube/client.js';
import { createLookups } from '../../src/kube/lookups.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { fixturesDir, readYamlDocs, SEED_REG_TOKEN } from '../helpers/fixtures.js';

/**
 * The Kubernetes lookups adapter against a local HTTPS fake of the API on 127.0.0.1, driven by
 * the real @kubernetes/client-node: ConfigMap/Secret reads, 404, 403, 500 and a slow API.
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];
const deployment = seed('deployment-run.yaml');
const template = seed('configmap-template.yaml');
const tokens = seed('secret-runner-tokens.yaml');
const annotated = structuredClone(deployment);
annotated.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };

function logger() {
  const lines: string[] = [];
  return {
    lines,
    warn: (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`),
    debug: (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`),
  };
}

const settings = (env: Record<string, string> = {}) =>
  loadSettings({ GRA_KUBE_LOOKUPS: 'true', ...env });
const far = () => Date.now() + 10_000;

async function fake(t: Test): Promise<FakeKubeApi> {
  const api = await startFakeKubeApi();
  t.teardown(() => api.close());
  api.put(template);
  api.put(tokens);
  return api;
}

t.test('reads the ConfigMap a runner workload mounts; Secrets only when allowed', async (t) => {
  const api = await fake(t);
  const log = logger();
  const lk = createLookups(settings(), log, api.connection());
  const r = await lk.resolve(annotated, 'gitlab-runner', far());
  t.same(r.warnings, []);
  const cm = r.resolved?.configMaps.get('gitlab-runner-config');
  t.ok(
    typeof cm === 'object' && cm['config.toml']?.includes('concurrent = 10'),
    'config.toml content came back',
  );
  t.equal(r.resolved?.secrets.size, 0, 'no Secret read without GRA_KUBE_READ_SECRETS');
  t.notOk(
    api.requests.some((q) => q.kind === 'Secret'),
    'no Secret request reached the API',
  );

  const lk2 = createLookups(settings({ GRA_KUBE_READ_SECRETS: 'true' }), log, api.connection());
  const r2 = await lk2.resolve(annotated, 'gitlab-runner', far());
  const sec = r2.resolved?.secrets.get('gitlab-runner-tokens');
  t.ok(
    typeof sec === 'object' && sec['runner-registration-token'] === SEED_REG_TOKEN,
    'Secret data decoded from base64',
  );
  t.notOk(log.lines.join('\n').includes(SEED_REG_TOKEN), 'the token never reaches a log line');
});

t.test('a non-runner object or one referencing nothing makes no request', async (t) => {
  const api = await fake(t);
  const lk = createLookups(settings(), logger(), api.connection());
  const r = await lk.resolve(
    {
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: { template: { spec: { containers: [{ name: 'n', image: 'nginx' }] } } },
    },
    'ns',
    far(),
  );
  t.same(r, { warnings: [] });
  t.equal(api.requests.length, 0);
});

t.test('404 → not-found, 403 → forbidden, 500 → error, each with one warning line', async (t) => {
  const api = await fake(t);
  const lk = createLookups(settings(), logger(), api.connection());

  const missing = structuredClone(deployment);
  missing.spec.template.spec.volumes[0].configMap.name = 'nope';
  const r404 = await lk.resolve(missing, 'gitlab-runner', far());
  t.equal(r404.resolved?.configMaps.get('nope'), 'not-found');
  t.match(r404.warnings, [/ConfigMap gitlab-runner\/nope does not exist/]);

  api.failNext(403);
  const r403 = await lk.resolve(deployment, 'gitlab-runner', far());
  t.equal(r403.resolved?.configMaps.get('gitlab-runner-config'), 'forbidden');
  t.match(r403.warnings, [
    /not allowed to read ConfigMap gitlab-runner\/gitlab-runner-config \(RBAC/,
  ]);

  api.failNext(500);
  const r500 = await lk.resolve(deployment, 'gitlab-runner', far());
  t.equal(r500.resolved?.configMaps.get('gitlab-runner-config'), 'error');
  t.match(r500.warnings, [
    /could not read ConfigMap gitlab-runner\/gitlab-runner-config: HTTP 500/,
  ]);
  for (const w of [...r404.warnings, ...r403.warnings, ...r500.warnings])
    t.notOk(w.includes('\n'), 'one line');
});

t.test('a slow API is cut off by the timeout, and never past the review deadline', async (t) => {
  const api = await fake(t);
  api.latency(3000);
  const lk = createLookups(settings({ GRA_KUBE_TIMEOUT_MS: '100' }), logger(), api.connection());
  const r = await lk.resolve(deployment, 'gitlab-runner', far());
  t.equal(r.resolved?.configMaps.get('gitlab-runner-config'), 'error');
  t.match(r.warnings, [/timed out after 100 ms/]);

  const lk2 = createLookups(settings({ GRA_KUBE_TIMEOUT_MS: '5000' }), logger(), api.connection());
  const r2 = await lk2.resolve(deployment, 'gitlab-runner', Date.now() + 200);
  t.equal(r2.resolved?.configMaps.get('gitlab-runner-config'), 'error');
  t.match(
    r2.warnings,
    [/timed out after \d+ ms/],
    'the deadline, not the 5 s setting, bounded the call',
  );
  const m = /timed out after (\d+) ms/.exec(r2.warnings[0] ?? '');
  t.ok(m && Number(m[1]) <= 200, 'budget taken from the deadline');

  const r3 = await lk2.resolve(deployment, 'gitlab-runner', Date.now() - 1);
  t.match(r3.warnings, [/no time left/], 'an expired deadline makes no request');
});

t.test('successes are cached for the TTL; failures are not', async (t) => {
  const api = await fake(t);
  const lk = createLookups(
    settings({ GRA_KUBE_CACHE_TTL_MS: '60000' }),
    logger(),
    api.connection(),
  );
  await lk.resolve(deployment, 'gitlab-runner', far());
  await lk.resolve(deployment, 'gitlab-runner', far());
  t.equal(
    api.requests.filter((q) => q.kind === 'ConfigMap').length,
    1,
    'second resolve served from cache',
  );

  const noCache = createLookups(
    settings({ GRA_KUBE_CACHE_TTL_MS: '0' }),
    logger(),
    api.connection(),
  );
  api.requests.length = 0;
  await noCache.resolve(deployment, 'gitlab-runner', far());
  await noCache.resolve(deployment, 'gitlab-runner', far());
  t.equal(api.requests.length, 2, 'TTL 0 disables the cache');

  api.requests.length = 0;
  const lk3 = createLookups(
    settings({ GRA_KUBE_CACHE_TTL_MS: '60000' }),
    logger(),
    api.connection(),
  );
  api.failNext(500);
  await lk3.resolve(deployment, 'gitlab-runner', far());
  const ok = await lk3.resolve(deployment, 'gitlab-runner', far());
  t.equal(
    typeof ok.resolved?.configMaps.get('gitlab-runner-config'),
    'object',
    'the failure was not cached',
  );
  t.equal(api.requests.length, 2);
});

t.test('an unusable kubeconfig degrades to warnings, never a throw', async (t) => {
  const log = logger();
  const lk = createLookups(
    settings(),
    log,
    await connectKube({ server: 'not a url', source: 't' }),
  );
  const r = await lk.resolve(deployment, 'gitlab-runner', far());
  t.match(r.warnings, [/Kubernetes API not configured/]);
  t.match(log.lines, [/Kubernetes lookups disabled/]);
});
