import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startFakeGitlab } from '../helpers/fake-gitlab.js';
import { fixturesDir, readJson, repoRoot } from '../helpers/fixtures.js';
import { request, review, type HttpResult } from '../helpers/server.js';
import { spawnServe, type ServeChild } from '../helpers/serve-child.js';

/**
 * SIGTERM under load, against the real `serve` command in a child process: readiness turns 503,
 * every request sent during the drain is answered 200 (with Connection: close), a review that is
 * in flight when the listener closes (held by a slow fake GitLab) still gets its answer, and the
 * process exits 0 (1 would mean the drain deadline cut something).
 */

// The TypeScript loader tap runs this file with, so the child runs src/ as is (no build step).
const tsImport = process.execArgv.filter(
  (a, i, all) =>
    a.includes('typescript') && (a.startsWith('--import') || all[i - 1] === '--import'),
);
const loaderArgs = tsImport.flatMap((a) => (a.startsWith('--import=') ? [a] : ['--import', a]));

const GRACE_MS = 8000; // drainPlan: listener open 4 s after the signal, 8 s deadline
const SLOW_MS = 3000; // the in-flight review: sent at +2.5 s, answered at about +5.5 s, after the listener closed at +4 s

const gl = await startFakeGitlab();
const SLOW_TOKEN = 'glrt-SlowSlowSlowSlow0099';
gl.addRunnerToken(SLOW_TOKEN, 'valid');
const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-shutdown-'));
t.teardown(async () => {
  await gl.close();
  await rm(dir, { recursive: true, force: true });
});

async function startChild(env: Record<string, string>): Promise<ServeChild> {
  const child = await spawnServe([...loaderArgs, path.join(repoRoot, 'src/cli/main.ts'), 'serve'], {
    GRA_PORT: '0',
    GRA_METRICS_PORT: '0',
    GRA_CERT_DIR: dir,
    GRA_LOG_LEVEL: 'info',
    ...env,
  });
  t.teardown(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  });
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test(
  'SIGTERM under load: 503 readiness, every request answered, in-flight review finishes, exit 0',
  async (t) => {
    const child = await startChild({
      GRA_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      GRA_GITLAB_VERIFY: 'true',
      GRA_GITLAB_ALLOWLIST: gl.url,
      GRA_GITLAB_CA_FILE: gl.caFile,
      GRA_GITLAB_BUDGET_MS: String(SLOW_MS + 1500),
      GRA_REVIEW_BUDGET_MS: String(SLOW_MS + 2000),
    });
    const ca = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
    const agent = new https.Agent({ keepAlive: true, ca, maxSockets: 16 });
    t.teardown(() => agent.destroy());

    const seedBody = JSON.stringify(
      readJson(path.join(fixturesDir, 'admission/configmap-create-registration-token.json')),
    );
    const unrelated = JSON.stringify(
      review({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'n', namespace: 'x' },
        data: { a: 'b' },
      }),
    );
    const post = (body: string) =>
      request(
        `${child.url}/validate?timeout=10s`,
        ca,
        'POST',
        body,
        { 'content-type': 'application/json' },
        agent,
      );

    const failures: string[] = [];
    let sent = 0;
    let duringDrain = 0;
    let closeHeaders = 0;
    let drainSeenAt = 0; // readiness answered 503: every request sent from here on is a drain request
    let stop = false;
    const check = (r: HttpResult, want: boolean, sentAt: number) => {
      if (r.status !== 200 || r.json?.response?.allowed !== want)
        failures.push(`status ${r.status} allowed ${r.json?.response?.allowed}`);
      if (drainSeenAt && sentAt >= drainSeenAt) {
        duringDrain++;
        if (r.headers.connection === 'close') closeHeaders++;
      }
    };
    const loop = async (i: number) => {
      while (!stop) {
        sent++;
        const deny = (sent + i) % 2 === 0;
        const sentAt = Date.now();
        try {
          check(await post(deny ? seedBody : unrelated), !deny, sentAt);
        } catch (e) {
          failures.push(`${(e as Error).message}`);
        }
      }
    };
    const loops = Array.from({ length: 8 }, (_, i) => loop(i));

    while (sent < 300 && failures.length === 0) await sleep(20);
    t.equal(
      (await request(`${child.url}/readyz`, ca, 'GET')).status,
      200,
      'ready before the signal',
    );

    const signalledAt = Date.now();
    child.proc.kill('SIGTERM');
    await sleep(300);
    const ready = await request(`${child.url}/readyz`, ca, 'GET');
    t.equal(ready.status, 503, 'readiness is 503 while draining');
    drainSeenAt = Date.now();
    t.equal(
      (await request(`${child.url}/healthz`, ca, 'GET')).status,
      200,
      'liveness stays 200: a drain is not a crash',
    );

    await sleep(2500 - (Date.now() - signalledAt));
    // held by GitLab for SLOW_MS: still running when the listener closes at GRACE_MS / 2
    const online = review({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'r', namespace: 'ci' },
      data: {
        'config.toml': `[[runners]]\n  url = "${gl.url}"\n  token = "${SLOW_TOKEN}"\n  executor = "kubernetes"\n`,
      },
    });
    gl.delayMs = SLOW_MS;
    const slow = post(JSON.stringify(online));
    await sleep(100);
    stop = true;
    await Promise.all(loops);
    const slowRes = await slow;

    const exit = await child.exited;
    t.same(failures, [], `0 failed requests out of ${sent}`);
    t.ok(duringDrain > 0, `${duringDrain} requests sent during the drain were answered`);
    t.equal(
      closeHeaders,
      duringDrain,
      'each drain response asks the client to reconnect elsewhere',
    );
    t.equal(slowRes.status, 200, 'the in-flight review was answered');
    t.equal(slowRes.json?.response?.allowed, true);
    t.equal(gl.calls('POST', '/api/v4/runners/verify').length, 1, 'it did wait on GitLab');
    const events = child.lines.map((l) => {
      try {
        return JSON.parse(l) as { event?: string; msg?: string; uid?: string };
      } catch {
        return {};
      }
    });
    const closeAt = events.findIndex((e) => e.event === 'drain-close');
    const slowAt = events.findIndex((e) => e.uid === online.request.uid);
    t.ok(
      closeAt >= 0 && slowAt > closeAt,
      'the slow review was answered after the listener closed (it was in flight)',
    );
    t.ok(
      events.some((e) => e.event === 'drain-done'),
      'drain finished cleanly',
    );
    t.same(exit, { code: 0, signal: null }, 'exit 0 (the drain deadline was not needed)');
  },
);

t.test('a second signal exits at once', async (t) => {
  const child = await startChild({ GRA_SHUTDOWN_GRACE_MS: '60000' });
  child.proc.kill('SIGTERM');
  await sleep(200);
  child.proc.kill('SIGTERM');
  const exit = await child.exited;
  t.same(exit, { code: 1, signal: null }, 'exit 1 without waiting 30 s of listen period');
});
