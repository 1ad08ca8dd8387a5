import t from 'tap';
import pino from 'pino';
import { startFakeGitlab, type FakeGitlab } from '../helpers/fake-gitlab.js';
import {
  createVerifier,
  SYSTEM_ID,
  type GitlabVerifier,
  type VerifyItem,
} from '../../src/gitlab/verifier.js';
import type { Settings } from '../../src/settings/settings.js';
import { createHttpsFetch } from '../../src/gitlab/transport.js';

/** The verifier against a fake GitLab over real HTTPS on 127.0.0.1, with the fake's CA as settings.gitlab.caFile. */

const gl = await startFakeGitlab();
const evil = await startFakeGitlab();
t.teardown(async () => {
  await gl.close();
  await evil.close();
});

const VALID = 'glrt-ValidValidValid0001';
const REVOKED = 'glrt-RevokedRevoked0002';
const ORPHAN = 'glrt-OrphanOrphanOrph03';
const LEGACY_AUTH = 'aB3dE5gH7jK9mN1pQ3sT';
const LEGACY_REG = 'Zq9Xw8Vu7Ts6Rp5On4Ml';
gl.addRunnerToken(VALID, 'valid');
gl.addRunnerToken(REVOKED, 'revoked');
gl.addRunnerToken(ORPHAN, 'orphaned');
gl.addRunnerToken(LEGACY_AUTH, 'valid');
gl.addRegistrationToken(LEGACY_REG);
const ALL = [VALID, REVOKED, ORPHAN, LEGACY_AUTH, LEGACY_REG];

const log = pino({ level: 'silent' });
const at = {
  object: { kind: 'ConfigMap', namespace: 'ci', name: 'runner' },
  dataKey: 'config.toml',
};
const item = (token: string, url = gl.url): VerifyItem => ({
  url,
  token,
  at: { ...at, runner: { index: 0 } },
});

function verifier(over: Partial<Settings['gitlab']> = {}): GitlabVerifier {
  // generous budget where the budget is not the subject: CI boxes can be slow at TLS handshakes
  const v = createVerifier(
    { verify: true, allowlist: [gl.url], caFile: gl.caFile, budgetMs: 20_000, ...over },
    log,
  );
  t.teardown(() => v.close());
  return v;
}
const soon = () => Date.now() + 30_000;

function reset(...fakes: FakeGitlab[]) {
  for (const f of fakes) f.reset();
}

t.test('200, 403, 422 and legacy tokens over HTTPS with the CA file', async (t) => {
  reset(gl);
  const v = verifier();
  const r = await v.verify(
    [item(VALID), item(REVOKED), item(ORPHAN), item(LEGACY_AUTH), item(LEGACY_REG)],
    { dryRun: false, deadline: soon() },
  );
  t.same(
    r.results.map((x) => x.outcome),
    ['valid', 'rejected', 'orphaned', 'valid', 'rejected'],
  );
  t.same(
    r.findings.map((f) => f.ruleId),
    ['GRA301', 'GRA303', 'GRA304', 'GRA302'],
  );
  t.same(r.warnings, []);
  const calls = gl.calls('POST', '/api/v4/runners/verify');
  t.equal(calls.length, 5, 'one call per token, in parallel');
  for (const c of calls) t.equal(c.body.system_id, SYSTEM_ID, 'fixed recognisable system_id');
  const rejected = r.findings[0]!;
  t.match(rejected.message, `GitLab at ${gl.url} rejects token glrt-…0002`);
  const text = JSON.stringify(r);
  for (const tok of ALL) t.notOk(text.includes(tok), 'no whole token in findings or warnings');
});

t.test(
  'without the CA file the self-signed GitLab is not trusted: allowed with a warning',
  async (t) => {
    reset(gl);
    const v = verifier({ caFile: undefined });
    const r = await v.verify([item(REVOKED)], { dryRun: false, deadline: soon() });
    t.equal(r.results[0]!.outcome, 'network-error');
    t.same(r.findings, []);
    t.match(r.warnings[0]!, /unreachable \([A-Z_]+\)/);
    t.equal(gl.requests.length, 0, 'no HTTP request went through');
  },
);

t.test('budget: a slow GitLab never makes the review wait for it', async (t) => {
  reset(gl);
  const v = verifier({ budgetMs: 1000 });
  // warm two keep-alive connections first, so the budget is not spent on TLS handshakes
  await v.verify([item(VALID), item(LEGACY_AUTH)], { dryRun: false, deadline: soon() });
  reset(gl);
  gl.delayMs = 30_000;
  const r = await v.verify([item(REVOKED), item(ORPHAN)], { dryRun: false, deadline: soon() });
  t.same(
    r.results.map((x) => x.outcome),
    ['timeout', 'timeout'],
  );
  t.match(r.warnings.join('\n'), /did not answer within 1000 ms/);
  t.same(r.findings, [], 'a timeout allows');
  t.ok(
    gl.requests.every((c) => !c.responded),
    'verify() resolved while GitLab was still holding the requests',
  );
  // both calls went out without waiting for each other (the first is held for 30 s)
  for (let i = 0; i < 100 && gl.calls('POST', '/api/v4/runners/verify').length < 2; i++)
    await new Promise((ok) => setTimeout(ok, 50));
  t.equal(gl.calls('POST', '/api/v4/runners/verify').length, 2, 'calls in parallel');
  gl.delayMs = 0;
});

t.test('the review deadline wins over a larger budget', async (t) => {
  reset(gl);
  gl.delayMs = 4000; // answers 403 well inside budgetMs: only the deadline can make this a timeout
  const v = verifier({ budgetMs: 25_000 });
  const r = await v.verify([item(REVOKED)], { dryRun: false, deadline: Date.now() + 500 });
  t.equal(r.results[0]!.outcome, 'timeout');
  t.match(r.warnings[0]!, /did not answer within \d+ ms/);
  t.ok(
    gl.requests.every((c) => !c.responded),
    'resolved before GitLab answered',
  );
  gl.delayMs = 0;
});

t.test('down and 5xx: allowed with a warning', async (t) => {
  reset(gl);
  gl.down = true;
  const down = await verifier().verify([item(REVOKED)], { dryRun: false, deadline: soon() });
  t.equal(down.results[0]!.outcome, 'network-error');
  t.match(down.warnings[0]!, /unreachable/);
  t.same(down.findings, []);
  reset(gl);
  gl.failStatus = 503;
  const five = await verifier().verify([item(REVOKED)], { dryRun: false, deadline: soon() });
  t.equal(five.results[0]!.outcome, 'server-error');
  t.match(five.warnings[0]!, /answered HTTP 503/);
  t.same(five.findings, []);
  gl.failStatus = undefined;
});

t.test('dryRun: GitLab is not called at all', async (t) => {
  reset(gl);
  const r = await verifier().verify([item(REVOKED)], { dryRun: true, deadline: soon() });
  t.equal(gl.connections, 0);
  t.match(r.warnings[0]!, /dry-run/);
  t.same(r.findings, []);
});

t.test('a config pointing elsewhere is never contacted: no TCP connection at all', async (t) => {
  reset(gl, evil);
  const v = verifier({ allowlist: [`${gl.url}/gitlab`] });
  const g = new URL(gl.url);
  const e = new URL(evil.url);
  const tricks = [
    evil.url,
    `https://localhost:${e.port}`,
    `https://${g.host}@${e.host}`, // allowed host as userinfo
    `https://${g.host}:x@${e.host}/gitlab`,
    `https://${e.host}/${g.host}/gitlab`,
    `https://${e.host}?${gl.url}/gitlab`,
    `${gl.url}/gitlab-evil`, // allowed host, path outside the prefix
    `${gl.url}/gitlab/../evil`,
    `${gl.url}`, // above the prefix
    `http://${g.host}/gitlab`, // scheme downgrade
    `https://user@${g.host}/gitlab`, // userinfo on the right host
  ];
  const r = await v.verify(
    tricks.map((u) => item(REVOKED, u)),
    { dryRun: false, deadline: soon() },
  );
  t.same(new Set(r.results.map((x) => x.outcome)), new Set(['not-allowed']));
  t.equal(evil.connections, 0, 'the other server saw no connection');
  t.equal(gl.connections, 0, 'the allowed host saw no connection for paths outside the prefix');
  t.same(r.findings, []);

  const ok = await v.verify([item(REVOKED, `${gl.url}/gitlab/`)], {
    dryRun: false,
    deadline: soon(),
  });
  t.equal(
    ok.results[0]!.outcome,
    'unexpected-status',
    'inside the prefix it is contacted (the fake serves /api/v4 at its root, hence 404)',
  );
  t.equal(gl.calls('POST', '/gitlab/api/v4/runners/verify').length, 1);
});

t.test('cache and single-flight over the wire', async (t) => {
  reset(gl);
  gl.delayMs = 100;
  const v = verifier();
  const [a, b] = await Promise.all([
    v.verify([item(REVOKED)], { dryRun: false, deadline: soon() }),
    v.verify([item(REVOKED)], { dryRun: false, deadline: soon() }),
  ]);
  t.equal(
    gl.calls('POST', '/api/v4/runners/verify').length,
    1,
    'two concurrent reviews, one request',
  );
  t.equal(a.findings[0]?.ruleId, 'GRA301');
  t.equal(b.findings[0]?.ruleId, 'GRA301');
  const c = await v.verify([item(REVOKED)], { dryRun: false, deadline: soon() });
  t.equal(gl.calls('POST', '/api/v4/runners/verify').length, 1, 'then a cache hit');
  t.equal(c.results[0]!.source, 'cache');
  gl.delayMs = 0;
});

t.test(
  'the fake answers jobs/request like GitLab (facts §3): 204 for a valid token, 403 otherwise',
  async (t) => {
    reset(gl);
    const f = createHttpsFetch({ caFile: gl.caFile });
    t.teardown(() => f.close());
    const call = (token: string) =>
      f(`${gl.url}/api/v4/jobs/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(5000),
      });
    t.equal((await call(VALID)).status, 204);
    t.equal((await call(REVOKED)).status, 403);
    t.equal(
      (await call(LEGACY_REG)).status,
      403,
      'a registration token is forbidden on jobs/request (facts §2)',
    );
  },
);
