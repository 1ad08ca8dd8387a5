import t from 'tap';
import https from 'node:https';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, startServer } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startFakeGitlab } from '../helpers/fake-gitlab.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { fixturesDir, readJson, readYamlDocs, SEED_REG_TOKEN } from '../helpers/fixtures.js';
import { request, review } from '../helpers/server.js';

/**
 * The assembled server (serve.ts) with Kubernetes lookups against the fake API and GitLab
 * verification against the fake GitLab; reviews over HTTPS, then a scrape of /metrics over HTTP:
 * the counters moved with the right labels, and no token or object name is in the scrape or the log.
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];
const REVOKED = 'glrt-MetricsRevoked77xq';

const gl = await startFakeGitlab();
gl.addRunnerToken(REVOKED, 'revoked');
const kube = await startFakeKubeApi();
kube.put(seed('configmap-registration-token.yaml'));
const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-metrics-'));
const settings = loadSettings({
  GRA_PORT: '0',
  GRA_METRICS_PORT: '0',
  GRA_CERT_DIR: dir,
  GRA_LOG_LEVEL: 'debug',
  GRA_KUBE_LOOKUPS: 'true',
  GRA_GITLAB_VERIFY: 'true',
  GRA_GITLAB_ALLOWLIST: gl.url,
  GRA_GITLAB_CA_FILE: gl.caFile,
});
const logLines: string[] = [];
const logger = createLogger(settings, { write: (s: string) => void logLines.push(s) });
const started = await startServer(settings, logger, {
  kube: kube.target(),
  metricsPort: 0,
});
const ca = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
const agent = new https.Agent({ keepAlive: true, ca });
t.teardown(async () => {
  agent.destroy();
  await started.shutdown();
  await gl.close();
  await kube.close();
  await rm(dir, { recursive: true, force: true });
});

const post = (p: string, body: unknown) =>
  request(
    started.url + p,
    ca,
    'POST',
    JSON.stringify(body),
    { 'content-type': 'application/json' },
    agent,
  );

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(started.metricsUrl!, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (s += c));
        res.on('end', () => resolve(s));
      })
      .on('error', reject);
  });
}

/** value of one sample line, e.g. value(text, 'x_total{a="b"}') */
function value(
  text: string,
  metric: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const P = 'gitlab_runner_admission_';

t.test(
  'counters move with bounded labels; no token or object name in the scrape or the log',
  async (t) => {
    t.ok(
      started.metricsUrl?.startsWith('http://127.0.0.1:'),
      'metrics on plain HTTP on the webhook host',
    );

    const seedReview = readJson(
      path.join(fixturesDir, 'admission/configmap-create-registration-token.json'),
    );
    const denied = await post('/validate', seedReview);
    t.equal(denied.json.response.allowed, false, 'seed config denied');
    const rules = [
      ...new Set<string>(String(denied.json.response.status.message).match(/GRA\d{3}/g) ?? []),
    ];
    t.ok(rules.length > 0, 'the deny message names its rule ids');

    const unrelated = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'nginx-settings-xyzzy', namespace: 'web-frontend' },
      data: { 'nginx.conf': 'worker_processes 1;' },
    };
    for (let i = 0; i < 3; i++)
      t.equal((await post('/validate', review(unrelated))).json.response.allowed, true);

    const online = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'runner-online-check', namespace: 'ci-online' },
      data: {
        'config.toml': `[[runners]]\n  name = "r"\n  url = "${gl.url}"\n  token = "${REVOKED}"\n  executor = "kubernetes"\n`,
      },
    };
    const onlineRes = await post('/validate', review(online));
    t.match(
      JSON.stringify(onlineRes.json.response),
      /GRA301/,
      'GitLab rejected the token (finding from the verifier)',
    );
    t.equal(gl.calls('POST', '/api/v4/runners/verify').length, 1, 'one call to the fake GitLab');

    const dep = seed('deployment-run.yaml');
    const depRes = await post(
      '/validate',
      review(dep, {
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        operation: 'UPDATE',
      }),
    );
    t.equal(depRes.status, 200);
    t.ok(
      kube.requests.some((r) => r.kind === 'ConfigMap' && r.name === 'gitlab-runner-config'),
      'the mounted ConfigMap was read',
    );

    const mut = await post('/mutate', review(dep));
    t.equal(mut.status, 200);
    const bad = await post('/validate', { hello: 'world' });
    t.equal(bad.status, 400);

    const text = await scrape();
    t.equal(
      value(text, `${P}requests_total`, {
        webhook: 'validate',
        kind: 'ConfigMap',
        operation: 'CREATE',
        decision: 'deny',
        mode: 'enforce',
      }),
      2,
      'seed + online check denied',
    );
    t.equal(
      value(text, `${P}requests_total`, {
        webhook: 'validate',
        kind: 'ConfigMap',
        operation: 'CREATE',
        decision: 'skip',
      }),
      3,
      'unrelated ConfigMaps',
    );
    t.equal(
      value(text, `${P}requests_total`, {
        webhook: 'validate',
        kind: 'Deployment',
        operation: 'UPDATE',
      }),
      1,
    );
    t.equal(
      value(text, `${P}requests_total`, {
        webhook: 'mutate',
        kind: 'Deployment',
        operation: 'CREATE',
      }),
      1,
    );
    t.equal(
      value(text, `${P}request_duration_seconds_count`, {
        webhook: 'validate',
        kind: 'ConfigMap',
        decision: 'skip',
      }),
      3,
      'histogram counts the same reviews',
    );
    for (const r of rules)
      t.ok(
        (value(text, `${P}findings_total`, { rule: r }) ?? 0) >= 1,
        `findings_total{rule="${r}"}`,
      );
    t.equal(
      value(text, `${P}findings_total`, { rule: 'GRA301' }),
      1,
      'the GitLab finding counted by rule id',
    );
    t.equal(value(text, `${P}bad_requests_total`, { webhook: 'validate' }), 1);
    t.equal(
      value(text, `${P}gitlab_verifications_total`, { outcome: 'rejected', source: 'network' }),
      1,
    );
    t.equal(value(text, `${P}gitlab_request_duration_seconds_count`, { outcome: 'rejected' }), 1);
    t.ok(
      (value(text, `${P}kube_lookup_objects_total`, { kind: 'ConfigMap', result: 'found' }) ?? 0) >=
        1,
    );
    t.ok((value(text, `${P}kube_lookup_duration_seconds_count`, { outcome: 'ok' }) ?? 0) >= 1);
    const expiry = value(text, `${P}cert_expiry_timestamp_seconds`) ?? 0;
    t.ok(expiry > Date.now() / 1000, 'cert expiry is in the future');
    t.equal(value(text, `${P}cert_reloads_total`), 0);
    t.equal(value(text, `${P}draining`), 0);
    t.ok((value(text, `${P}process_resident_memory_bytes`) ?? 0) > 0, 'process metrics');

    for (const secret of [SEED_REG_TOKEN, REVOKED]) {
      const part = secret.slice(-10);
      t.notOk(text.includes(part), 'no token substring in the scrape');
      t.notOk(logLines.join('').includes(part), 'no token substring in the log');
    }
    for (const name of [
      'gitlab-runner-config',
      'nginx-settings-xyzzy',
      'web-frontend',
      'runner-online-check',
      'ci-online',
    ]) {
      t.notOk(text.includes(name), `object name/namespace ${name} not in the scrape`);
    }
    t.ok(
      logLines.some((l) => l.includes('"decision":"deny"')),
      'the log did capture reviews (the check above is not vacuous)',
    );
  },
);

t.test('odd kinds and operations collapse to "other"', async (t) => {
  const weird = review(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
    { kind: { group: 'evil', version: 'v1', kind: 'glrt-NotAKindAtAll1234' }, operation: 'PATCHY' },
  );
  const res = await post('/validate', weird);
  t.ok(res.status === 200 || res.status === 400, 'answered');
  const text = await scrape();
  t.notOk(text.includes('NotAKindAtAll'), 'a request-chosen kind never becomes a label');
  t.notOk(text.includes('PATCHY'), 'nor an operation');
});

t.test('only GET /metrics', async (t) => {
  const other = await new Promise<number>((resolve, reject) => {
    http
      .get(started.metricsUrl!.replace('/metrics', '/debug'), (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  t.equal(other, 404);
});
