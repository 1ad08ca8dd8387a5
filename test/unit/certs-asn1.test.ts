/**
 * Every subject/issuer attribute of every certificate we generate must use an ASN.1 string type
 * its characters fit: Go's crypto/x509 (kube-apiserver) refuses e.g. an '@' in a PrintableString,
 * which made the apiserver unable to load our caBundle. The DER is walked by hand here (not via
 * src/certs/names.ts) so the check does not share a bug with the code it checks.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import {
  crossSignCa,
  generateCa,
  generateServingCert,
  generateWebhookCerts,
} from '../../src/certs/generate.js';
import { dnAttribute, dnProblem } from '../../src/certs/names.js';
import { planSecret, type RotationPolicy, type SecretMaterial } from '../../src/certs/rotation.js';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { splitPemCerts } from '../../src/certs/validate.js';
import { runCerts } from '../../src/cli/certs.js';

const NOW = new Date('2030-06-01T00:00:00Z');
const DAY = 24 * 3600 * 1000;

// X.680 Table 10 (PrintableString); the same set Go's encoding/asn1 accepts when marshalling.
const PRINTABLE_CHARS = new Set(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?",
);
const UTF8 = 12;
const PRINTABLE = 19;
const IA5 = 22;

interface Attr {
  where: 'subject' | 'issuer';
  oid: string;
  tag: number;
  value: string;
}

/** subject and issuer attributes straight from the DER: tbsCertificate fields 3 (issuer) and 5 (subject). */
function dnAttrs(pem: string): Attr[] {
  const der = forge.util.decode64(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
  const cert = forge.asn1.fromDer(der);
  const tbs = (cert.value as forge.asn1.Asn1[])[0]!;
  const fields = tbs.value as forge.asn1.Asn1[];
  // version is an optional [0] EXPLICIT; our certs are v3 so it is there
  const off = fields[0]!.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const out: Attr[] = [];
  for (const [where, idx] of [
    ['issuer', off + 2],
    ['subject', off + 4],
  ] as const) {
    for (const rdn of fields[idx]!.value as forge.asn1.Asn1[]) {
      for (const atv of rdn.value as forge.asn1.Asn1[]) {
        const [oid, val] = atv.value as forge.asn1.Asn1[];
        out.push({
          where,
          oid: forge.asn1.derToOid(oid!.value as string),
          tag: val!.type,
          value: val!.value as string,
        });
      }
    }
  }
  return out;
}

/** An attribute's problem as Go would see it, or undefined. */
function badAttr(a: Attr): string | undefined {
  if (a.tag === PRINTABLE) {
    const bad = [...a.value].filter((c) => !PRINTABLE_CHARS.has(c));
    return bad.length
      ? `${a.where} ${a.oid} PrintableString holds ${JSON.stringify(bad.join(''))}`
      : undefined;
  }
  if (a.tag === IA5)
    return /^[\x00-\x7f]*$/.test(a.value)
      ? undefined
      : `${a.where} ${a.oid} IA5String holds non-ASCII`;
  if (a.tag === UTF8) {
    try {
      forge.util.decodeUtf8(a.value);
      return undefined;
    } catch {
      return `${a.where} ${a.oid} UTF8String is not UTF-8`;
    }
  }
  return `${a.where} ${a.oid} has string tag ${a.tag}, which we never mean to write`;
}

function checkAll(t: Test, label: string, pems: string[]): void {
  t.ok(pems.length > 0, `${label}: has certificates`);
  for (const [i, pem] of pems.entries()) {
    const attrs = dnAttrs(pem);
    t.ok(
      attrs.some((a) => a.where === 'subject'),
      `${label}#${i}: has a subject`,
    );
    t.same(
      attrs.map(badAttr).filter(Boolean),
      [],
      `${label}#${i}: every DN attribute fits its ASN.1 type`,
    );
  }
}

t.test('the check itself catches the old CA name (an @ in a PrintableString)', async (t) => {
  const ca = forge.pki.createCertificate();
  const keys = forge.pki.rsa.generateKeyPair({ bits: 512, e: 0x10001 });
  ca.publicKey = keys.publicKey;
  ca.serialNumber = '01';
  // what forge did by default before: PrintableString whatever the characters
  ca.setSubject([{ name: 'commonName', value: 'gitlab-runner-admission-ca@1700000000' }]);
  ca.setIssuer([{ name: 'commonName', value: 'gitlab-runner-admission-ca@1700000000' }]);
  ca.sign(keys.privateKey, forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(ca);
  const attrs = dnAttrs(pem);
  t.equal(attrs[0]?.tag, PRINTABLE);
  t.match(badAttr(attrs[0]!), /PrintableString holds "@"/);
  t.match(dnProblem(pem), /invalid PrintableString|not a valid PrintableString/);
});

t.test('dnAttribute: PrintableString when the characters allow it, else UTF8String', async (t) => {
  const enc = (v: string) => {
    const c = generateCa({ commonName: v, now: NOW });
    return dnAttrs(c.cert).find((a) => a.where === 'subject')!;
  };
  t.equal(dnAttribute('commonName', 'gra.ci.svc').valueTagClass, PRINTABLE);
  for (const v of ['a@b', 'under_score', 'wild*card', 'ümlaut', 'x&y']) {
    const a = enc(v);
    t.equal(a.tag, UTF8, `${v} → UTF8String`);
    t.equal(forge.util.decodeUtf8(a.value), v, `${v} round-trips`);
  }
  t.equal(enc('plain CA 1700000000').tag, PRINTABLE);
});

t.test('generate: CA, serving, webhook pair and cross-signed CA', async (t) => {
  const ca = generateCa({ now: NOW });
  t.match(dnAttrs(ca.cert)[0]?.value, /^gitlab-runner-admission-ca-\d+$/);
  const leaf = generateServingCert(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ips: ['::1'],
    now: NOW,
  });
  const wc = generateWebhookCerts({ service: 'gra', namespace: 'ci', now: NOW });
  const next = generateCa({ now: new Date(NOW.getTime() + 1000) });
  checkAll(t, 'generate', [
    ca.cert,
    leaf.cert,
    wc.ca.cert,
    wc.serving.cert,
    next.cert,
    crossSignCa(next, ca, { now: NOW }),
  ]);
});

t.test('selfManaged: created, renewed, rotated, and retired Secrets', async (t) => {
  const policy: RotationPolicy = {
    service: 'gra',
    namespace: 'ci',
    caValidityDays: 90,
    servingValidityDays: 30,
  };
  const created = planSecret(undefined, NOW, policy).material;
  const renewed = planSecret(created, new Date(NOW.getTime() + 25 * DAY), policy);
  t.equal(renewed.action, 'write');
  t.match(renewed.action === 'write' ? renewed.reason : '', /renewal/);
  const rotated = planSecret(renewed.material, new Date(NOW.getTime() + 80 * DAY), policy);
  t.match(rotated.action === 'write' ? rotated.reason : '', /CA rotation/);
  const retired = planSecret(rotated.material, new Date(NOW.getTime() + 88 * DAY), policy);
  t.match(retired.action === 'write' ? retired.reason : '', /retired/);
  for (const [label, m] of [
    ['created', created],
    ['renewed', renewed.material],
    ['rotated', rotated.material],
    ['retired', retired.material],
  ] as const) {
    checkAll(t, label, [...splitPemCerts(m.cert), m.caCert, ...splitPemCerts(m.bundle)]);
  }
});

t.test('selfManaged: a stored CA with a name Go refuses is replaced, not reused', async (t) => {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const old = forge.pki.createCertificate();
  old.publicKey = keys.publicKey;
  old.serialNumber = '01';
  old.validity.notBefore = new Date(NOW.getTime() - DAY);
  old.validity.notAfter = new Date(NOW.getTime() + 3000 * DAY);
  const name = [{ name: 'commonName', value: 'gitlab-runner-admission-ca@1900000000' }];
  old.setSubject(name);
  old.setIssuer(name);
  old.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, critical: true },
  ]);
  old.sign(keys.privateKey, forge.md.sha256.create());
  const caCert = forge.pki.certificateToPem(old);
  const m: SecretMaterial = {
    cert: caCert,
    key: forge.pki.privateKeyToPem(keys.privateKey),
    caCert,
    caKey: forge.pki.privateKeyToPem(keys.privateKey),
    bundle: caCert,
  };
  const plan = planSecret(m, NOW, { service: 'gra', namespace: 'ci' });
  t.equal(plan.action, 'write');
  t.match(plan.action === 'write' ? plan.reason : '', /new CA.*PrintableString/);
  t.not(plan.material.caCert, caCert);
  checkAll(t, 'replaced', [
    plan.material.caCert,
    ...splitPemCerts(plan.material.cert),
    ...splitPemCerts(plan.material.bundle),
  ]);
});

t.test('dev mode (npm start) certificates, also replacing an old dev CA', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-asn1-dev-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dev = await ensureDevCerts(dir);
  t.match(dnAttrs(dev.ca)[0]?.value, /^gitlab-runner-admission dev CA \d+$/);
  checkAll(t, 'dev', [dev.ca, dev.cert]);

  // certs/ left by an older version: a CA whose CN is an @-PrintableString
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const old = forge.pki.createCertificate();
  old.publicKey = keys.publicKey;
  old.serialNumber = '02';
  old.validity.notBefore = new Date(Date.now() - DAY);
  old.validity.notAfter = new Date(Date.now() + 3000 * DAY);
  const name = [{ name: 'commonName', value: 'gitlab-runner-admission dev CA@1900000000' }];
  old.setSubject(name);
  old.setIssuer(name);
  old.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, critical: true },
  ]);
  old.sign(keys.privateKey, forge.md.sha256.create());
  await writeFile(path.join(dir, 'ca.crt'), forge.pki.certificateToPem(old));
  await writeFile(path.join(dir, 'ca.key'), forge.pki.privateKeyToPem(keys.privateKey));
  const again = await ensureDevCerts(dir);
  t.equal(again.created, true, 'the old CA is replaced');
  checkAll(t, 'dev-replaced', [
    again.ca,
    again.cert,
    await readFile(path.join(dir, 'ca.crt'), 'utf8'),
  ]);
});

t.test('the certs CLI', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-asn1-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const io = { stdout: () => undefined, stderr: () => undefined };
  t.equal(
    await runCerts(
      ['-s', 'gra', '-n', 'ci', '-o', dir, '--dns', 'gra.example.test', '--ip', '127.0.0.1'],
      io,
    ),
    0,
  );
  checkAll(t, 'cli', [
    await readFile(path.join(dir, 'ca.crt'), 'utf8'),
    await readFile(path.join(dir, 'tls.crt'), 'utf8'),
  ]);
});
