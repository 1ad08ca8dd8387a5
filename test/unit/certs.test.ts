import t from 'tap';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import {
  generateCa,
  generateServingCert,
  generateWebhookCerts,
  issueServingForService,
  randomSerialHex,
  serviceDnsNames,
  toCaBundle,
  CA_VALIDITY_DAYS,
  DAY_MS,
} from '../../src/certs/generate.js';
import { checkPair, validatePair, certInfo, splitPemCerts } from '../../src/certs/validate.js';

const NOW = new Date('2030-06-01T00:00:00Z');

// One generation shared by the read-only assertions: RSA keygen is the slow part.
const wc = generateWebhookCerts({
  service: 'gra',
  namespace: 'ci',
  dns: ['gra.example.test'],
  ips: ['10.0.0.7'],
  now: NOW,
});

t.test(
  'serving cert carries the four service names plus extras, and nothing relies on the CN',
  async (t) => {
    const info = checkPair(wc.serving, {
      now: NOW,
      ca: wc.ca.cert,
      hosts: ['gra.ci.svc', '10.0.0.7'],
    });
    t.same(info.dnsNames, [...serviceDnsNames('gra', 'ci'), 'gra.example.test']);
    t.same(serviceDnsNames('gra', 'ci'), [
      'gra',
      'gra.ci',
      'gra.ci.svc',
      'gra.ci.svc.cluster.local',
    ]);
    t.same(info.ips, ['10.0.0.7']);
    t.equal(info.isCa, false);
    t.match(info.subject, /CN=gra\.ci\.svc/);
  },
);

t.test('extensions: CA constraints, key usage, serverAuth, SKI/AKI linkage', async (t) => {
  const ca = forge.pki.certificateFromPem(wc.ca.cert);
  const leaf = forge.pki.certificateFromPem(wc.serving.cert);
  const caBc = ca.getExtension('basicConstraints') as { cA: boolean; critical: boolean } | null;
  t.equal(caBc?.cA, true);
  t.equal(caBc?.critical, true);
  t.equal((ca.getExtension('keyUsage') as { keyCertSign?: boolean } | null)?.keyCertSign, true);
  t.equal((leaf.getExtension('basicConstraints') as { cA?: boolean } | null)?.cA, false);
  const ku = leaf.getExtension('keyUsage') as {
    digitalSignature?: boolean;
    keyEncipherment?: boolean;
    keyCertSign?: boolean;
  } | null;
  t.equal(ku?.digitalSignature, true);
  t.equal(ku?.keyEncipherment, true);
  t.notOk(ku?.keyCertSign, 'a leaf must not sign certificates');
  t.equal((leaf.getExtension('extKeyUsage') as { serverAuth?: boolean } | null)?.serverAuth, true);
  const caSki = (ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string } | null)
    ?.subjectKeyIdentifier;
  t.ok(caSki);
  // OpenSSL prints the leaf's AKI keyid; it must equal the CA's SKI so chain building can find the issuer.
  const leafX = new X509Certificate(wc.serving.cert);
  t.ok(leafX.checkIssued(new X509Certificate(wc.ca.cert)));
  t.equal(leaf.issuer.getField('CN').value, ca.subject.getField('CN').value);
  const akiRaw = leaf.getExtension('authorityKeyIdentifier') as { value: string } | null;
  t.ok(akiRaw && forge.util.bytesToHex(akiRaw.value).endsWith(caSki!), 'AKI keyid = CA SKI');
});

t.test('validity: CA ~10y, serving ~1y, backdated, and never past the CA', async (t) => {
  const ca = certInfo(new X509Certificate(wc.ca.cert));
  const leaf = certInfo(new X509Certificate(wc.serving.cert));
  t.equal(Math.round((ca.notAfter.getTime() - NOW.getTime()) / DAY_MS), CA_VALIDITY_DAYS);
  t.equal(Math.round((leaf.notAfter.getTime() - NOW.getTime()) / DAY_MS), 365);
  t.ok(leaf.notBefore < NOW, 'backdated for clock skew');
  const shortCa = generateCa({ now: NOW, validityDays: 30 });
  const capped = generateServingCert(shortCa, { commonName: 'x', dnsNames: ['x'], now: NOW });
  t.equal(
    certInfo(new X509Certificate(capped.cert)).notAfter.getTime(),
    certInfo(new X509Certificate(shortCa.cert)).notAfter.getTime(),
  );
});

t.test('serial numbers: positive, 16 bytes, distinct', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomSerialHex();
    t.equal(s.length, 32);
    t.ok(parseInt(s.slice(0, 2), 16) < 0x80, 'top bit clear: positive DER INTEGER');
    t.ok(parseInt(s.slice(0, 2), 16) > 0, 'no leading zero octet');
    seen.add(s);
  }
  t.equal(seen.size, 200);
  t.not(
    new X509Certificate(wc.ca.cert).serialNumber,
    new X509Certificate(wc.serving.cert).serialNumber,
  );
});

t.test('caBundle is base64 of the CA PEM(s)', async (t) => {
  t.equal(Buffer.from(wc.caBundle, 'base64').toString(), wc.ca.cert.trim() + '\n');
  const other = generateCa({ now: NOW });
  const both = Buffer.from(toCaBundle(wc.ca.cert, other.cert), 'base64').toString();
  t.equal(splitPemCerts(both).length, 2);
});

t.test('validation refuses with one-line messages', async (t) => {
  const later = new Date(NOW.getTime() + 400 * DAY_MS);
  t.throws(() => checkPair(wc.serving, { now: later }), {
    message: /^tls\.crt expired on 2031-06-01T00:00:00\.000Z$/,
  });
  const earlier = new Date(NOW.getTime() - 2 * DAY_MS);
  t.throws(() => checkPair(wc.serving, { now: earlier }), {
    message: /^tls\.crt is not valid before 2030-05-31T23:00:00\.000Z$/,
  });
  t.throws(() => checkPair({ cert: wc.serving.cert, key: wc.ca.key }, { now: NOW }), {
    message: 'tls.key does not match tls.crt',
  });
  t.throws(() => checkPair(wc.serving, { now: NOW, hosts: ['other.ci.svc'] }), {
    message: /^tls\.crt does not cover other\.ci\.svc \(SANs: gra, /,
  });
  const otherCa = generateCa({ now: NOW });
  t.throws(() => checkPair(wc.serving, { now: NOW, ca: otherCa.cert }), {
    message: 'tls.crt is not signed by ca.crt',
  });
  t.doesNotThrow(
    () => checkPair(wc.serving, { now: NOW, ca: otherCa.cert + wc.ca.cert }),
    'any CA of a bundle will do',
  );
  t.throws(() => checkPair({ cert: 'nope', key: wc.serving.key }), {
    message: 'tls.crt contains no PEM certificate',
  });
  t.throws(() => checkPair({ cert: wc.serving.cert, key: 'nope' }), {
    message: /^tls\.key is not a valid private key/,
  });
  const r = validatePair(
    { cert: wc.serving.cert, key: wc.ca.key },
    { labels: { cert: '/x/tls.crt', key: '/x/tls.key' } },
  );
  t.same(r, { ok: false, error: '/x/tls.key does not match /x/tls.crt' });
  for (const m of [r]) if (!m.ok) t.notMatch(m.error, /\n/);
});

t.test('issueServingForService reuses a CA and rejects bad IPs', async (t) => {
  const again = issueServingForService(wc.ca, 'gra', 'ci', { now: NOW });
  t.doesNotThrow(() =>
    checkPair(again, { now: NOW, ca: wc.ca.cert, hosts: ['gra.ci.svc.cluster.local'] }),
  );
  t.throws(() => issueServingForService(wc.ca, 'gra', 'ci', { ips: ['300.1.1.1'] }), {
    message: 'not an IP address: "300.1.1.1"',
  });
});

t.test('renewalDue: at 2/3 of life, or 30 days before expiry, whichever is first', async (t) => {
  const { renewalDue } = await import('../../src/certs/rotation.js');
  const nb = new Date('2030-01-01T00:00:00Z');
  const year = new Date(nb.getTime() + 365 * DAY_MS);
  const p = { service: 'gra', namespace: 'ci' };
  t.equal(renewalDue(nb, year, new Date(nb.getTime() + 243 * DAY_MS), p), false);
  t.equal(
    renewalDue(nb, year, new Date(nb.getTime() + 244 * DAY_MS), p),
    true,
    '2/3 of 365 days = 243.3',
  );
  const short = new Date(nb.getTime() + 60 * DAY_MS); // 60-day cert: 30 days left comes before 2/3 (40 days)
  t.equal(renewalDue(nb, short, new Date(nb.getTime() + 29 * DAY_MS), p), false);
  t.equal(renewalDue(nb, short, new Date(nb.getTime() + 30 * DAY_MS), p), true);
  t.equal(
    renewalDue(nb, year, new Date(nb.getTime() + 10 * DAY_MS), { ...p, renewAtFraction: 0.01 }),
    true,
    'policy overrides',
  );
});
