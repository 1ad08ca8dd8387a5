import t from 'tap';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { generateCa } from '../../src/certs/generate.js';
import { checkPair } from '../../src/certs/validate.js';

const DAY = 24 * 3600 * 1000;

t.test('creates CA and serving cert, keys 0600, reuses on second call', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-dev-'));
  const a = await ensureDevCerts(dir);
  t.equal(a.created, true);
  t.equal(a.caPath, path.join(dir, 'ca.crt'));
  for (const f of ['ca.key', 'tls.key'])
    t.equal((await stat(path.join(dir, f))).mode & 0o777, 0o600, `${f} is 0600`);
  const info = checkPair(a, { ca: a.ca, hosts: ['localhost', '127.0.0.1', '::1'] });
  t.same(info.dnsNames, ['localhost']);
  t.equal(
    info.ips.length,
    2,
    'two IP SANs (127.0.0.1 and ::1; checkPair above verified both are covered)',
  );
  const b = await ensureDevCerts(dir);
  t.equal(b.created, false);
  t.equal(b.cert, a.cert);
  t.equal(b.key, a.key);
});

t.test('regenerates a serving cert that does not match its key, keeping the CA', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-dev-'));
  const a = await ensureDevCerts(dir);
  await writeFile(path.join(dir, 'tls.key'), generateCa().key);
  const b = await ensureDevCerts(dir);
  t.equal(b.created, true);
  t.equal(b.ca, a.ca, 'CA kept so the developer does not have to trust a new one');
  t.not(b.cert, a.cert);
  t.doesNotThrow(() => checkPair(b, { ca: b.ca }));
});

t.test(
  'regenerates everything when the CA is unreadable or expired, and when hosts change',
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gra-dev-'));
    const a = await ensureDevCerts(dir);
    await writeFile(path.join(dir, 'ca.crt'), 'garbage');
    const b = await ensureDevCerts(dir);
    t.equal(b.created, true);
    t.not(b.ca, a.ca);
    // 11 years later everything has expired
    const c = await ensureDevCerts(dir, { now: new Date(Date.now() + 11 * 365 * DAY) });
    t.equal(c.created, true);
    t.not(c.ca, b.ca);
    const d = await ensureDevCerts(dir, { hosts: ['localhost', 'dev.local', '127.0.0.1'] });
    t.equal(d.created, true);
    t.doesNotThrow(() => checkPair(d, { hosts: ['dev.local'] }));
    t.equal(await readFile(path.join(dir, 'tls.crt'), 'utf8'), d.cert);
  },
);

t.test('concurrent calls on one dir end with one consistent pair', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-dev-'));
  const rs = await Promise.all([ensureDevCerts(dir), ensureDevCerts(dir), ensureDevCerts(dir)]);
  t.equal(rs.filter((r) => r.created).length, 1);
  t.ok(rs.every((r) => r.cert === rs[0]!.cert));
});

t.test('an https client trusting ca.crt connects to localhost', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-dev-'));
  const c = await ensureDevCerts(dir);
  const server = https.createServer({ key: c.key, cert: c.cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get(
        { host: '127.0.0.1', servername: 'localhost', port, ca: c.ca, path: '/', agent: false },
        (res) => {
          let s = '';
          res.on('data', (d) => (s += d));
          res.on('end', () => resolve(s));
        },
      )
      .on('error', reject);
  });
  t.equal(body, 'ok');
});
