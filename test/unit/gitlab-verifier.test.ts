import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  createVerifier,
  SYSTEM_ID,
  type VerifierDeps,
  type VerifyItem,
  type OutcomeEvent,
  type RequestEvent,
} from '../../src/gitlab/verifier.js';
import type { FetchLike } from '../../src/gitlab/transport.js';
import type { Settings } from '../../src/settings/settings.js';

/** Verifier logic against an injected fetch and clock: no network, no wall-clock dependence. */

const GL = 'https://gitlab.example.com';
const AUTH = 'glrt-AbCdEfGhIjKlMnOpQrSt';
const AUTH2 = 'glrt-ZyXwVuTsRqPoNmLkJiHg';
const LEGACY = 'aB3dE5gH7jK9mN1pQ3sT';
const ALL_TOKENS = [AUTH, AUTH2, LEGACY];
const at = {
  object: { kind: 'ConfigMap', namespace: 'ci', name: 'runner' },
  dataKey: 'config.toml',
  runner: { index: 0 },
};

function cfg(over: Partial<Settings['gitlab']> = {}): Settings['gitlab'] {
  return { verify: true, allowlist: [GL], budgetMs: 2000, ...over };
}

interface Call {
  url: string;
  body: { token?: string; system_id?: string };
}

/** A fetch whose answer per call is decided by `answer`; a Promise that never settles models a hung GitLab. */
function stubFetch(
  answer: (c: Call) => number | { status: number; body?: string } | Promise<never>,
) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const c: Call = { url, body: JSON.parse(init.body) };
    calls.push(c);
    const a = await answer(c);
    const r = typeof a === 'number' ? { status: a, body: '{}' } : a;
    return { status: r.status, text: async () => r.body ?? '{}' };
  };
  return { fetch, calls };
}

function setup(
  answer: Parameters<typeof stubFetch>[0],
  over: Partial<Settings['gitlab']> = {},
  tuning: VerifierDeps['tuning'] = {},
) {
  let now = 1_700_000_000_000;
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'trace' }, sink);
  const s = stubFetch(answer);
  const v = createVerifier(cfg(over), log, { clock: () => now, fetch: s.fetch, tuning });
  return {
    v,
    calls: s.calls,
    lines,
    advance: (ms: number) => (now += ms),
    deadline: () => now + 5000,
    run: (items: VerifyItem[], dryRun = false) => v.verify(items, { dryRun, deadline: now + 5000 }),
  };
}

const item = (token: string, url = GL): VerifyItem => ({ url, token, at });

t.test('200: no finding, the documented request with a runner-shaped system_id', async (t) => {
  const s = setup(() => 200);
  const r = await s.run([item(AUTH)]);
  t.same(r.findings, []);
  t.same(r.warnings, []);
  t.equal(r.results[0]!.outcome, 'valid');
  t.equal(s.calls.length, 1);
  t.equal(s.calls[0]!.url, `${GL}/api/v4/runners/verify`);
  t.equal(s.calls[0]!.body.token, AUTH);
  t.equal(s.calls[0]!.body.system_id, SYSTEM_ID);
  t.match(SYSTEM_ID, /^[sr]_[0-9a-zA-Z]{12}$/, 'same shape as gitlab-runner system ids (facts §2)');
});

t.test(
  '403: a deny finding naming the GitLab, redacted token, and the way to a new token',
  async (t) => {
    const s = setup(() => 403);
    const r = await s.run([item(AUTH)]);
    t.equal(r.findings.length, 1);
    const f = r.findings[0]!;
    t.equal(f.ruleId, 'GRA301');
    t.equal(f.severity, 'deny');
    t.match(f.message, `GitLab at ${GL} rejects token glrt-…QrSt`);
    t.match(f.message, /runner deleted, token revoked, expired or rotated/);
    t.match(f.fix, /create-runner/);
    t.match(f.fix, /runner-token/);
    t.equal(f.token, 'glrt-…QrSt');
    t.same(f.object, at.object);
    t.equal(f.dataKey, 'config.toml');
    t.notMatch(JSON.stringify(r), AUTH, 'the whole token appears nowhere in the result');
  },
);

t.test('422: orphaned runner finding', async (t) => {
  const s = setup(() => 422);
  const r = await s.run([item(AUTH)]);
  t.equal(r.findings[0]?.ruleId, 'GRA303');
  t.match(r.findings[0]!.message, /orphaned/);
});

t.test(
  'unprefixed legacy token: 200 confirms an auth token, 403 points at a registration token',
  async (t) => {
    const ok = await setup(() => 200).run([item(LEGACY)]);
    t.equal(ok.findings[0]?.ruleId, 'GRA304');
    t.equal(ok.findings[0]?.severity, 'info');
    t.match(ok.findings[0]!.message, /not a registration token/);
    const no = await setup(() => 403).run([item(LEGACY)]);
    t.equal(no.findings[0]?.ruleId, 'GRA302');
    t.equal(no.findings[0]?.severity, 'deny');
    t.match(no.findings[0]!.message, /registration token/);
    t.notMatch(JSON.stringify([ok, no]), LEGACY);
  },
);

t.test('tokens that are not runner auth tokens are never sent', async (t) => {
  const s = setup(() => 200);
  const tokens = [
    '',
    '   ',
    '${RUNNER_TOKEN}',
    'YOUR_REGISTRATION_TOKEN',
    'GR1348941AbCdEfGhIjKlMnOpQrSt',
    'glpat-AbCdEfGhIjKlMnOpQrSt',
    'glrt-AbCdE fGhIjKlMnOpQrSt',
  ];
  const r = await s.run(tokens.map((x) => item(x)));
  t.equal(s.calls.length, 0);
  t.same(
    r.results.map((x) => x.outcome),
    tokens.map(() => 'not-verifiable'),
  );
});

t.test('disabled: nothing is called, nothing is said', async (t) => {
  const s = setup(() => 403, { verify: false });
  const r = await s.run([item(AUTH)]);
  t.equal(s.calls.length, 0);
  t.same(r, { findings: [], warnings: [], results: [{ outcome: 'disabled', source: 'none' }] });
});

t.test('dryRun: skipped with a warning, no call', async (t) => {
  const s = setup(() => 403);
  const r = await s.run([item(AUTH), item(AUTH2)], true);
  t.equal(s.calls.length, 0);
  t.same(r.findings, []);
  t.equal(r.warnings.length, 1, 'one warning per review, not per token');
  t.match(r.warnings[0]!, /skipped on dry-run/);
});

t.test('URLs off the allowlist are never called', async (t) => {
  const s = setup(() => 403);
  const r = await s.run([
    item(AUTH, 'https://gitlab.example.com@evil.example'),
    item(AUTH, 'https://evil.example'),
    item(AUTH, 'https://x:glpat-secretvalue1234567890@gitlab.example.com'),
  ]);
  t.equal(s.calls.length, 0);
  t.same(
    r.results.map((x) => x.outcome),
    ['not-allowed', 'not-allowed', 'not-allowed'],
  );
  t.match(r.warnings.join('\n'), /evil\.example is not on the allowlist/);
  t.notMatch(r.warnings.join('\n'), /secretvalue/, 'credentials in a url are not echoed');
});

t.test(
  'credentials in a runner url on an allowlisted host: said as such, never sent, never echoed',
  async (t) => {
    const s = setup(() => 200);
    const r = await s.run([
      item(AUTH, 'https://bot:glpat-secretvalue1234567890@gitlab.example.com/'),
    ]);
    t.equal(s.calls.length, 0, 'no request: the url is not verified as written');
    t.same(
      r.results.map((x) => x.outcome),
      ['not-allowed'],
    );
    const w = r.warnings.join('\n');
    t.match(
      w,
      /https:\/\/\(credentials removed\)@gitlab\.example\.com holds credentials; remove them from config\.toml/,
    );
    t.notMatch(w, /not on the allowlist/, 'the host is on the allowlist: not the reason');
    t.notMatch(
      w + s.lines.join(''),
      /secretvalue|bot:/,
      'the credentials appear in no warning and no log line',
    );
    t.notMatch(w, new RegExp(AUTH), 'nor the whole token');
  },
);

t.test('cache: a second review of the same (url, token) makes no request', async (t) => {
  const s = setup(() => 403);
  const first = await s.run([item(AUTH)]);
  const second = await s.run([item(AUTH)]);
  t.equal(s.calls.length, 1);
  t.equal(second.results[0]!.source, 'cache');
  t.same(second.findings, first.findings, 'the cached answer gives the same finding');
  await s.run([item(AUTH2)]);
  t.equal(s.calls.length, 2, 'another token is another key');
  await s.run([item(AUTH, 'https://gitlab.example.com/sub')]);
  t.equal(s.calls.length, 3, 'another base url is another key');
});

t.test('single-flight: concurrent identical checks share one request', async (t) => {
  let release!: (n: number) => void;
  const gate = new Promise<number>((ok) => (release = ok));
  const s = setup(() => gate as unknown as Promise<never>);
  const a = s.run([item(AUTH)]);
  const b = s.run([item(AUTH), item(AUTH)]);
  await new Promise((ok) => setImmediate(ok));
  release(403);
  const [ra, rb] = await Promise.all([a, b]);
  t.equal(s.calls.length, 1);
  t.equal(ra.findings[0]?.ruleId, 'GRA301');
  t.same(
    rb.findings.map((f) => f.ruleId),
    ['GRA301', 'GRA301'],
  );
  t.same(
    rb.results.map((x) => x.source),
    ['shared', 'shared'],
  );
});

t.test('TTLs: failures short, success long, bounded by the token expiry', async (t) => {
  const tuning = { okTtlMs: 300_000, rejectedTtlMs: 30_000, errorTtlMs: 10_000 };
  let status = 403;
  const s = setup(() => status, {}, tuning);
  await s.run([item(AUTH)]);
  s.advance(29_000);
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 1, '403 still cached within its TTL');
  s.advance(2_000);
  status = 200;
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 2, '403 expired after 30 s');
  s.advance(200_000);
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 2, '200 cached far longer');
  s.advance(101_000);
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 3, '200 expired after 5 min');

  status = 503;
  await s.run([item(AUTH2)]);
  s.advance(9_000);
  await s.run([item(AUTH2)]);
  t.equal(s.calls.length, 4, '5xx cached briefly');
  s.advance(2_000);
  await s.run([item(AUTH2)]);
  t.equal(s.calls.length, 5, '5xx expired after 10 s');
});

t.test('a 200 is not cached past token_expires_at', async (t) => {
  let now0 = 0;
  const s = setup(() => ({
    status: 200,
    body: JSON.stringify({
      id: 1,
      token: AUTH,
      token_expires_at: new Date(now0 + 60_000).toISOString(),
    }),
  }));
  now0 = s.deadline() - 5000;
  await s.run([item(AUTH)]);
  s.advance(59_000);
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 1);
  s.advance(2_000);
  await s.run([item(AUTH)]);
  t.equal(s.calls.length, 2);
});

t.test(
  'circuit breaker: opens after N failures, half-opens with one probe, closes on success',
  async (t) => {
    let status = 503;
    const s = setup(
      () => status,
      {},
      { breakerThreshold: 3, breakerCoolDownMs: 30_000, errorTtlMs: 1 },
    );
    for (let i = 0; i < 3; i++) {
      const r = await s.run([item(AUTH)]);
      t.equal(r.results[0]!.outcome, 'server-error');
      t.match(r.warnings[0]!, /answered HTTP 503/);
      s.advance(10);
    }
    t.equal(s.calls.length, 3);
    const open = await s.run([item(AUTH), item(AUTH2)]);
    t.equal(s.calls.length, 3, 'open: no call at all');
    t.same(
      open.results.map((x) => x.outcome),
      ['circuit-open', 'circuit-open'],
    );
    t.match(open.warnings[0]!, /keeps failing/);
    t.same(open.findings, [], 'an open circuit allows');

    s.advance(30_000);
    const probe = await s.run([item(AUTH), item(AUTH2)]);
    t.equal(s.calls.length, 4, 'half-open: exactly one probe');
    t.same(
      probe.results.map((x) => x.outcome),
      ['server-error', 'circuit-open'],
    );
    const reopened = await s.run([item(AUTH2)]);
    t.equal(reopened.results[0]!.outcome, 'circuit-open', 'failed probe re-opens');
    t.equal(s.calls.length, 4);

    s.advance(30_000);
    status = 200;
    await s.run([item(AUTH)]);
    t.equal(s.calls.length, 5, 'probe after the second cool-down');
    const closed = await s.run([item(AUTH2)]);
    t.equal(closed.results[0]!.outcome, 'valid', 'successful probe closes the circuit');
    t.equal(s.calls.length, 6);
  },
);

t.test('a 403 is an answer, not a failure: it never opens the circuit', async (t) => {
  const s = setup(() => 403, {}, { breakerThreshold: 2, rejectedTtlMs: 1 });
  for (let i = 0; i < 5; i++) {
    await s.run([item(AUTH)]);
    s.advance(10);
  }
  t.equal(s.calls.length, 5);
});

t.test('budget: a hung GitLab never holds the review past the deadline', async (t) => {
  const s = setup(() => new Promise<never>(() => undefined), { budgetMs: 60_000 });
  const guard = new Promise<'guard'>((ok) => setTimeout(() => ok('guard'), 10_000).unref());
  // the deadline (30 ms away) is far shorter than budgetMs: it must win
  const review = s.v.verify([item(AUTH)], { dryRun: false, deadline: s.deadline() - 5000 + 30 });
  const winner = await Promise.race([review, guard]);
  t.not(winner, 'guard', 'verify() resolved on its own deadline');
  const r = winner as Awaited<typeof review>;
  t.equal(r.results[0]!.outcome, 'timeout');
  t.match(r.warnings[0]!, /did not answer within 30 ms/);
  t.same(r.findings, [], 'a timeout allows');
});

t.test('a review whose deadline has passed makes no request', async (t) => {
  const s = setup(() => 403);
  const r = await s.v.verify([item(AUTH)], { dryRun: false, deadline: s.deadline() - 6000 });
  t.equal(s.calls.length, 0);
  t.equal(r.results[0]!.outcome, 'timeout');
});

t.test('network errors allow with a warning that carries only an error code', async (t) => {
  const s = setup(() => {
    throw Object.assign(new Error(`connect ECONNREFUSED with ${AUTH} in the message`), {
      code: 'ECONNREFUSED',
    });
  });
  const r = await s.run([item(AUTH)]);
  t.equal(r.results[0]!.outcome, 'network-error');
  t.match(r.warnings[0]!, /unreachable \(ECONNREFUSED\)/);
  t.notMatch(JSON.stringify(r), AUTH);
});

t.test(
  'hooks report outcomes and request latency; unsubscribe and throwing listeners are safe',
  async (t) => {
    const s = setup(() => 403);
    const outcomes: OutcomeEvent[] = [];
    const requests: RequestEvent[] = [];
    s.v.onOutcome(() => {
      throw new Error('metrics bug');
    });
    const off = s.v.onOutcome((e) => outcomes.push(e));
    s.v.onRequest((e) => requests.push(e));
    const r = await s.run([item(AUTH), item('GR1348941AbCdEfGhIjKlMnOpQrSt')]);
    t.equal(r.findings.length, 1, 'a throwing listener does not break verification');
    t.same(outcomes, [
      { outcome: 'rejected', source: 'network', baseUrl: GL },
      { outcome: 'not-verifiable', source: 'none' },
    ]);
    t.equal(requests.length, 1);
    t.equal(requests[0]!.outcome, 'rejected');
    t.equal(requests[0]!.status, 403);
    t.type(requests[0]!.latencyMs, 'number');
    off();
    await s.run([item(AUTH)]);
    t.equal(outcomes.length, 2, 'unsubscribed');
    t.equal(requests.length, 1, 'cache hit: no request event');
  },
);

t.test('logs never contain a whole token', async (t) => {
  let n = 0;
  const s = setup(() => {
    n++;
    if (n === 1) return 200;
    if (n === 2) return 403;
    throw Object.assign(new Error(`boom ${LEGACY}`), { code: 'ECONNRESET' });
  });
  await s.run([item(AUTH)]);
  await s.run([item(AUTH2)]);
  await s.run([item(LEGACY)]);
  t.ok(s.lines.length >= 3, 'something was logged');
  const all = s.lines.join('');
  for (const tok of ALL_TOKENS) t.notOk(all.includes(tok), `log has no ${tok.slice(0, 5)}…`);
});
