import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createLogger, startServer, type Started } from '../../src/cli/serve.js';
import { DAY_MS, generateCa, issueServingForService } from '../../src/certs/generate.js';
import { loadSettings } from '../../src/settings/settings.js';
import { startFakeGitlab } from '../helpers/fake-gitlab.js';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import { fixturesDir, readYamlDocs } from '../helpers/fixtures.js';
import { request, review, type HttpResult } from '../helpers/server.js';

/**
 * Faults through the assembled server (serve.ts startServer, as in production): the Kubernetes API
 * slow or down, GitLab slow, down or 5xx — each review still answered 200 inside the apiserver's
 * timeout, allowed on the dependency's account with a warning, and counted in /metrics; and the
 * serving certificate replaced while under load with 0 failed requests. The adapters' own
 * behaviour is proven in mutate-lookups.test.ts, gitlab-verify.test.ts and certs-hot-reload.test.ts.
 */

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];

interface Srv {
  started: Started;
  post(p: string, body: unknown): Promise<HttpResult>;
  scrape(): Promise<string>;
}

async function start(
  t: Test,
  env: Record<string, string>,
  opts: Parameters<typeof startServer>[2] = {},
  tls?: { ca: string; servername: string },
): Promise<Srv> {
  const dir = env.GRA_CERT_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'gra-faults-')));
  const settings = loadSettings({
    GRA_PORT: '0',
    GRA_METRICS_PORT: '0',
    GRA_CERT_DIR: dir,
    GRA_LOG_LEVEL: 'silent',
    ...env,
  });
  const started = await startServer(settings, createLogger(settings), { metricsPort: 0, ...opts });
  const { readFileSync } = await import('node:fs');
  const ca = tls?.ca ?? readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  const agent = new https.Agent({
    keepAlive: true,
    ca,
    ...(tls ? { servername: tls.servername } : {}),
  });
  t.teardown(async () => {
    agent.destroy();
    await started.shutdown();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    started,
    post: (p, body) =>
      request(
        `${started.url}${p}`,
        ca,
        'POST',
        JSON.stringify(body),
        { 'content-type': 'application/json' },
        agent,
      ),
    scrape: () =>
      new Promise((resolve, reject) => {
        http
          .get(started.metricsUrl!, (res) => {
            let s = '';
            res.on('data', (c) => (s += c));
            res.on('end', () => resolve(s));
          })
          .on('error', reject);
      }),
  };
}

const metric = (text: string, line: RegExp): number =>
  Number(
    text
      .split('\n')
      .find((l) => line.test(l))
      ?.split(' ')
      .pop() ?? NaN,
  );

t.test(
  'Kubernetes API slow, then down: the workload review is answered with a warning',
  async (t) => {
    const kube = await startFakeKubeApi();
    kube.put(seed('configmap-registration-token.yaml'));
    const srv = await start(
      t,
      { GRA_KUBE_LOOKUPS: 'true', GRA_KUBE_TIMEOUT_MS: '200' },
      { kube: kube.target() },
    );
    const dep = seed('deployment-run.yaml');

    kube.latency(5000);
    const slow = await srv.post('/validate?timeout=3s', review(dep));
    t.equal(slow.status, 200);
    t.match(
      (slow.json.response.warnings ?? []).join('\n'),
      /lookup: could not read ConfigMap gitlab-runner\/gitlab-runner-config: timed out/,
      'slow API: one warning, no verdict from it',
    );

    await kube.close();
    const down = await srv.post('/validate?timeout=3s', review(dep));
    t.equal(down.status, 200);
    t.match(
      (down.json.response.warnings ?? []).join('\n'),
      /lookup: could not read ConfigMap/,
      'API down: same',
    );

    const text = await srv.scrape();
    t.equal(
      metric(
        text,
        /^gitlab_runner_admission_kube_lookup_objects_total\{kind="ConfigMap",result="error"\}/,
      ),
      2,
      'both failures counted',
    );
    t.equal(
      metric(
        text,
        /^gitlab_runner_admission_kube_lookup_duration_seconds_count\{outcome="partial"\}/,
      ),
      2,
    );
  },
);

t.test('GitLab slow, down and 5xx: allowed with a warning, outcomes counted', async (t) => {
  const gl = await startFakeGitlab();
  t.teardown(() => gl.close());
  const tokens = ['glrt-FaultSlowSlowSlo01', 'glrt-FaultDownDownDow02', 'glrt-Fault5xx5xx5xx5x03'];
  for (const tok of tokens) gl.addRunnerToken(tok, 'revoked');
  const srv = await start(t, {
    GRA_GITLAB_VERIFY: 'true',
    GRA_GITLAB_ALLOWLIST: gl.url,
    GRA_GITLAB_CA_FILE: gl.caFile,
    GRA_GITLAB_BUDGET_MS: '300',
  });
  const cm = (token: string) =>
    review({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'r', namespace: 'ci' },
      data: {
        'config.toml': `[[runners]]\n  url = "${gl.url}"\n  token = "${token}"\n  executor = "kubernetes"\n`,
      },
    });

  gl.delayMs = 3000;
  const slow = await srv.post('/validate?timeout=2s', cm(tokens[0]!));
  gl.delayMs = 0;
  gl.down = true;
  const down = await srv.post('/validate?timeout=2s', cm(tokens[1]!));
  gl.down = false;
  gl.failStatus = 503;
  const failing = await srv.post('/validate?timeout=2s', cm(tokens[2]!));
  gl.failStatus = undefined;

  for (const [what, r] of [
    ['slow', slow],
    ['down', down],
    ['5xx', failing],
  ] as const) {
    t.equal(r.status, 200, `${what}: answered`);
    t.equal(
      r.json.response.allowed,
      true,
      `${what}: a revoked token is let through when GitLab cannot say so (fail open)`,
    );
    t.ok(
      (r.json.response.warnings ?? []).some((w: string) => /GitLab/.test(w)),
      `${what}: the warning says GitLab could not be asked`,
    );
    t.notMatch(r.text, /GRA301/, `${what}: no online finding without an answer`);
  }
  const text = await srv.scrape();
  t.equal(
    metric(
      text,
      /^gitlab_runner_admission_gitlab_verifications_total\{outcome="timeout",source="network"\}/,
    ),
    1,
  );
  t.equal(
    metric(
      text,
      /^gitlab_runner_admission_gitlab_verifications_total\{outcome="network-error",source="network"\}/,
    ),
    1,
  );
  t.equal(
    metric(
      text,
      /^gitlab_runner_admission_gitlab_verifications_total\{outcome="server-error",source="network"\}/,
    ),
    1,
  );
  for (const tok of tokens) t.notOk(text.includes(tok.slice(5, 13)), 'no token in the scrape');
});

t.test(
  'serving certificate replaced under load (files mode): 0 failed requests, reload counted',
  async (t) => {
    const ca = generateCa({ commonName: 'ops-faults-ca' });
    const now = Date.now();
    const first = issueServingForService(ca, 'gra', 'ci', {
      ips: ['127.0.0.1'],
      validityDays: 30,
      now: new Date(now - DAY_MS),
    });
    const second = issueServingForService(ca, 'gra', 'ci', {
      ips: ['127.0.0.1'],
      validityDays: 90,
      now: new Date(now - DAY_MS),
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-faults-files-'));
    const put = async (p: { cert: string; key: string }) => {
      // replace both files by rename, the way a careful writer does (the kubelet swaps a symlink; certs-hot-reload.test.ts covers that layout)
      await writeFile(path.join(dir, 'tls.key.tmp'), p.key, { mode: 0o600 });
      await writeFile(path.join(dir, 'tls.crt.tmp'), p.cert);
      await rename(path.join(dir, 'tls.key.tmp'), path.join(dir, 'tls.key'));
      await rename(path.join(dir, 'tls.crt.tmp'), path.join(dir, 'tls.crt'));
    };
    await put(first);
    const srv = await start(
      t,
      { GRA_CERT_MODE: 'files', GRA_CERT_DIR: dir, GRA_SERVICE_NAME: 'gra', GRA_NAMESPACE: 'ci' },
      {},
      { ca: ca.cert, servername: 'gra.ci.svc' },
    );
    const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
    const before = await srv.scrape();
    const expiry1 = metric(before, /^gitlab_runner_admission_cert_expiry_timestamp_seconds /);

    const body = review({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'n', namespace: 'x' },
      data: { a: 'b' },
    });
    let stop = false;
    let done = 0;
    const failures: string[] = [];
    const loop = async () => {
      while (!stop) {
        try {
          const r = await srv.post('/validate', body);
          if (r.status !== 200 || r.json?.response?.allowed !== true)
            failures.push(`HTTP ${r.status}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
        done++;
      }
    };
    const loops = Array.from({ length: 6 }, loop);
    while (done < 100) await new Promise((r) => setTimeout(r, 10));
    await put(second);

    // a fresh connection (no agent) must eventually see the new certificate
    const fresh = () =>
      new Promise<string>((resolve, reject) => {
        const req = https.request(
          `${srv.started.url}/healthz`,
          { ca: ca.cert, servername: 'gra.ci.svc', agent: false },
          (res) => {
            const s = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
            res.resume();
            res.on('end', () => resolve(s));
          },
        );
        req.on('error', reject);
        req.end();
      });
    let seen = '';
    for (
      let i = 0;
      i < 200 && seen !== serialOf(second.cert).toUpperCase() && seen !== serialOf(second.cert);
      i++
    ) {
      seen = await fresh();
      await new Promise((r) => setTimeout(r, 50));
    }
    const settle = done;
    while (done < settle + 100) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(loops);

    t.equal(
      seen.toUpperCase(),
      serialOf(second.cert).toUpperCase(),
      'new connections get the new certificate',
    );
    t.same(failures, [], `0 failed requests out of ${done}`);
    const after = await srv.scrape();
    t.equal(metric(after, /^gitlab_runner_admission_cert_reloads_total /), 1, 'one reload counted');
    t.ok(
      metric(after, /^gitlab_runner_admission_cert_expiry_timestamp_seconds /) > expiry1,
      'expiry gauge follows the new certificate',
    );
  },
);
