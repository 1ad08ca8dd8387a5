import t, { type Test } from 'tap';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { startTestServer, review, request } from '../helpers/server.js';
import { crc32Base36 } from '../../src/tokens/crc.js';
import {
  fixturesDir,
  readJson,
  readTsv,
  readYamlDocs,
  SEED_AUTH_TOKEN,
  SEED_REG_TOKEN,
} from '../helpers/fixtures.js';

/** The AdmissionReview v1 contract over real HTTPS, against the started server. */

const srv = await startTestServer();
t.teardown(() => srv.close());

const seedCm = readYamlDocs(path.join(fixturesDir, 'seed/configmap-registration-token.yaml'))[0];

function assertContract(t: Test, reqBody: any, res: { status: number; json: any; headers: any }) {
  t.equal(res.status, 200, 'HTTP 200 for a well-formed review');
  t.match(String(res.headers['content-type']), /^application\/json/);
  t.equal(res.json.apiVersion, 'admission.k8s.io/v1', 'apiVersion echoed');
  t.equal(res.json.kind, 'AdmissionReview', 'kind echoed');
  t.equal(res.json.response.uid, reqBody.request.uid, 'exact uid echoed');
  t.type(res.json.response.allowed, 'boolean');
  t.notOk('patch' in res.json.response, 'never a patch from /validate');
  t.notOk('patchType' in res.json.response, 'never a patchType from /validate');
  if (!res.json.response.allowed) {
    t.equal(res.json.response.status.code, 403);
    t.equal(res.json.response.status.reason, 'Forbidden');
    t.type(res.json.response.status.message, 'string');
  }
  for (const w of res.json.response.warnings ?? []) {
    t.ok(w.length <= 120, `warning within 120 chars: ${w}`);
    t.notMatch(w, /[\u0000-\u001f]/, 'no control characters in warnings');
  }
}

function decisionOf(json: any): 'allow' | 'warn' | 'deny' {
  const r = json.response;
  if (!r.allowed) return 'deny';
  return r.warnings?.length ? 'warn' : 'allow';
}

t.test('every captured AdmissionReview gets the contract and the INDEX decision', async (t) => {
  const index = readTsv(path.join(fixturesDir, 'admission/INDEX.tsv'));
  t.ok(index.length >= 11, 'index read');
  for (const row of index) {
    const body = readJson(path.join(fixturesDir, 'admission', row.file!));
    const res = await srv.post('/validate?timeout=10s', body);
    t.test(row.file!, async (t) => {
      assertContract(t, body, res);
      const allowed = row.expected!.split('|');
      t.ok(
        allowed.includes(decisionOf(res.json)),
        `decision ${decisionOf(res.json)} is one of ${row.expected}`,
      );
      const text = JSON.stringify(res.json);
      t.notOk(text.includes(SEED_REG_TOKEN), 'registration token never whole in the response');
      t.notOk(text.includes(SEED_AUTH_TOKEN), 'auth token never whole in the response');
      t.notOk(
        text.includes('last-applied-configuration'),
        'last-applied-configuration never echoed',
      );
    });
  }
});

t.test('the seed config is denied with an actionable message', async (t) => {
  const body = review(seedCm);
  const res = await srv.post('/validate?timeout=10s', body);
  assertContract(t, body, res);
  t.equal(res.json.response.allowed, false);
  const msg: string = res.json.response.status.message;
  t.match(msg, /ConfigMap gitlab-runner\/gitlab-runner-config/, 'names the object');
  t.match(msg, /key "config\.toml"/, 'names the data key');
  t.match(msg, /\[\[runners\]\] #0 "ois-cfa-runner"/, 'names the runner entry');
  t.match(msg, /line 8\b/, 'names the TOML line');
  t.match(msg, /GR1348941…wZsK/, 'shows the token redacted');
  t.match(msg, /`gitlab-runner run` never registers/, 'says run does not register');
  t.match(msg, /GRA001/, 'rule id');
  t.match(msg, /fix: /, 'says how to fix');
  t.notOk(msg.includes(SEED_REG_TOKEN), 'never the whole token');
});

/** routable layout per gitlab lib/authn/token_field/generator/routable_token.rb (see test/unit/tokens.test.ts) */
function routableToken(): string {
  const payload = Buffer.from('c:1\no:2s\nt:1');
  const b64 = Buffer.concat([Buffer.alloc(16, 7), payload, Buffer.from([payload.length])]).toString(
    'base64url',
  );
  const encoded = `glrt-${b64}.01.${b64.length.toString(36).padStart(2, '0')}`;
  return encoded + crc32Base36(encoded);
}

t.test(
  'the same ConfigMap with an authentication token is allowed with a ConfigMap warning',
  async (t) => {
    const authTokens = [
      routableToken(),
      'glrt-Tq3vZ8xYp2LmN6bW4cRs',
      'glrtr-Ab3dEf6hIj9kLm2nOp5q',
      't3_Ab3dEf6hIj9kLm2nOp5q',
      'glrt-t2_Ab3dEf6hIj9kLm2nOp5q',
    ];
    for (const tok of authTokens) {
      const cm = structuredClone(seedCm);
      cm.data['config.toml'] = cm.data['config.toml'].replace(SEED_REG_TOKEN, tok);
      const body = review(cm);
      const res = await srv.post('/validate', body);
      assertContract(t, body, res);
      t.equal(res.json.response.allowed, true, `${tok.slice(0, 8)}… allowed`);
      t.ok(
        res.json.response.warnings?.some((w: string) => w.startsWith('GRA005')),
        'warns that a token sits in a ConfigMap',
      );
      t.notOk(JSON.stringify(res.json).includes(tok), 'token not echoed whole');
    }
  },
);

t.test('DELETE and CONNECT are allowed at once; dryRun decides the same', async (t) => {
  const del = review(null, { operation: 'DELETE', oldObject: seedCm });
  const r1 = await srv.post('/validate', del);
  assertContract(t, del, r1);
  t.equal(r1.json.response.allowed, true);
  const conn = review(seedCm, { operation: 'CONNECT' });
  t.equal((await srv.post('/validate', conn)).json.response.allowed, true);
  const dry = review(seedCm, { dryRun: true });
  const r2 = await srv.post('/validate', dry);
  assertContract(t, dry, r2);
  t.equal(r2.json.response.allowed, false, 'dryRun is denied the same');
});

t.test('modes: warn and audit paths allow; annotation can only make it stricter', async (t) => {
  const w = await srv.post('/validate/warn', review(seedCm));
  t.equal(w.json.response.allowed, true);
  t.ok(
    w.json.response.warnings.some((x: string) => x.startsWith('GRA001')),
    'deny finding shown as warning',
  );
  const a = await srv.post('/validate/audit', review(seedCm));
  t.equal(a.json.response.allowed, true);
  t.notOk(a.json.response.warnings, 'audit: no warnings');
  t.match(a.json.response.auditAnnotations.findings, /GRA001/);
  t.equal(a.json.response.auditAnnotations['would-deny'], 'true');

  const looser = structuredClone(seedCm);
  looser.metadata.annotations = { 'gitlab-runner-admission/mode': 'audit' };
  t.equal(
    (await srv.post('/validate/enforce', review(looser))).json.response.allowed,
    false,
    'annotation cannot loosen enforce',
  );
  const stricter = structuredClone(seedCm);
  stricter.metadata.annotations = { 'gitlab-runner-admission/mode': 'enforce' };
  t.equal(
    (await srv.post('/validate/warn', review(stricter))).json.response.allowed,
    false,
    'annotation can tighten warn',
  );
  t.equal((await srv.post('/validate/nonsense', review(seedCm))).status, 404);
});

t.test('unrelated objects pass untouched', async (t) => {
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'nginx', namespace: 'web' },
    data: { 'nginx.conf': 'token = "GR1348941Xq7_pLm2VbN9cRt4wZsK"' },
  };
  const res = await srv.post('/validate', review(cm));
  t.same(res.json.response, { uid: res.json.response.uid, allowed: true });
  const dep = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'web' },
    spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } } },
  };
  const r2 = await srv.post('/validate', review(dep));
  t.same(r2.json.response, { uid: r2.json.response.uid, allowed: true });
});

t.test('__proto__ as a ConfigMap data key is inspected, not a crash', async (t) => {
  const raw = JSON.stringify(
    review({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'p', namespace: 'n' },
      data: {},
    }),
  ).replace(
    '"data":{}',
    `"data":{"__proto__":"x","constructor":{"prototype":{}},"config.toml":${JSON.stringify(seedCm.data['config.toml'])}}`,
  );
  const res = await srv.post('/validate', undefined, { raw });
  t.equal(res.status, 200);
  t.equal(res.json.response.allowed, false, 'the runner config next to __proto__ is still denied');
  const raw2 = raw
    .replace('"__proto__":"x"', `"__proto__.toml":${JSON.stringify(seedCm.data['config.toml'])}`)
    .replace('"config.toml":', '"other":');
  const res2 = await srv.post('/validate', undefined, { raw: raw2 });
  t.equal(res2.json.response.allowed, false, 'a runner config under a __proto__-ish key is denied');
  t.equal((await srv.get('/healthz')).status, 200, 'server still healthy');
});

t.test('bad input gets a clear 4xx answer and never crashes', async (t) => {
  const bad = await srv.post('/validate', undefined, { raw: '{"kind": "AdmissionReview", ' });
  t.equal(bad.status, 400);
  t.type(bad.json.error, 'string');
  t.notMatch(bad.json.error, /\n/, 'one-line reason');

  const v1beta1 = review(seedCm);
  v1beta1.apiVersion = 'admission.k8s.io/v1beta1';
  const r = await srv.post('/validate', v1beta1);
  t.equal(r.status, 400);
  t.match(r.json.error, /apiVersion must be "admission\.k8s\.io\/v1"/);

  const noUid = review(seedCm);
  delete noUid.request.uid;
  t.equal((await srv.post('/validate', noUid)).status, 400);
  t.equal((await srv.post('/validate', [1, 2])).status, 400);
  t.equal((await srv.post('/validate', null)).status, 400);
  const wrongType = await srv.post('/validate', undefined, {
    raw: 'hello',
    headers: { 'content-type': 'text/plain' },
  });
  t.equal(wrongType.status, 415);

  const huge = review({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'big', namespace: 'n' },
    data: { 'a.txt': 'x'.repeat(8 * 1024 * 1024) },
  });
  const big = await srv.post('/validate', huge);
  t.equal(big.status, 413, 'body above the limit: 413');

  const latin1 = Buffer.from(
    JSON.stringify(review(seedCm)).replace('ois-cfa-runner', 'ois-cfa-r\u00e9nner'),
    'latin1',
  );
  const odd = await srv.post('/validate', undefined, { raw: latin1 });
  t.ok([200, 400].includes(odd.status), `odd encoding answered (${odd.status})`);

  const brokenToml = structuredClone(seedCm);
  brokenToml.data['config.toml'] =
    '[[runners]]\n  name = "x"\n  token = "GR1348941Xq7_pLm2VbN9cRt4wZsK\n';
  const bt = await srv.post('/validate', review(brokenToml));
  t.equal(bt.json.response.allowed, false);
  t.match(bt.json.response.status.message, /GRA004.*line \d+, column \d+/s);
  t.notOk(bt.text.includes(SEED_REG_TOKEN), 'TOML error does not echo the token');
  t.equal((await srv.get('/healthz')).status, 200, 'still alive');
});

t.test('health, readiness and TLS', async (t) => {
  const h = await srv.get('/healthz');
  t.same(h.json, { status: 'ok' });
  // The apiserver keeps idle connections up to 90 s; the server must not close them first.
  const ka = /timeout=(\d+)/.exec(String(h.headers['keep-alive']));
  t.ok(ka && Number(ka[1]) > 90, `keep-alive timeout above 90 s (${h.headers['keep-alive']})`);
  t.equal((await srv.get('/readyz')).status, 200);
  const tls11 = await request(srv.url + '/healthz', srv.ca, 'GET', undefined, {}, undefined).then(
    () => 'ok',
    () => 'err',
  );
  t.equal(tls11, 'ok', 'TLS 1.2+ client connects');
  const old = await new Promise<string>((resolve) => {
    import('node:tls').then((tls) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port: srv.started.port,
        ca: srv.ca,
        servername: 'localhost',
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      });
      s.on('secureConnect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', () => resolve('refused'));
    });
  });
  t.equal(old, 'refused', 'TLS 1.1 is refused');
  t.equal(readFileSync(path.join(srv.settings.certDir, 'ca.crt'), 'utf8'), srv.ca);
});
