import t from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { startFakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.js';
import { createCertSource } from '../../src/certs/source.js';
import { SelfManagedCertSource } from '../../src/certs/self-managed.js';
import {
  DAY_MS,
  generateCa,
  issueServingForService,
  toCaBundle,
} from '../../src/certs/generate.js';
import { PREVIOUS_CA_UNTIL } from '../../src/certs/rotation.js';
import { splitPemCerts } from '../../src/certs/validate.js';
import { loadSettings } from '../../src/settings/settings.js';
import type { CertPair } from '../../src/certs/types.js';

const log = pino({ level: 'silent' });
const settings = loadSettings({
  GRA_CERT_MODE: 'selfManaged',
  GRA_SERVICE_NAME: 'gra',
  GRA_NAMESPACE: 'ci',
  GRA_VALIDATING_WEBHOOK_NAME: 'gra-validating',
  GRA_MUTATING_WEBHOOK_NAME: 'gra-mutating',
});

function seedWebhookConfigs(fake: FakeKubeApi): void {
  for (const [kind, name] of [
    ['ValidatingWebhookConfiguration', 'gra-validating'],
    ['MutatingWebhookConfiguration', 'gra-mutating'],
  ] as const) {
    fake.put({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind,
      metadata: { name },
      webhooks: ['a', 'b'].map((w) => ({
        name: `${w}.gra.gitlab.com`,
        clientConfig: { service: { name: 'gra', namespace: 'ci', path: '/validate' } },
      })),
    });
  }
}

function secret(fake: FakeKubeApi) {
  const s = fake.get('v1', 'Secret', 'ci', 'gra-tls');
  const d = (s?.data ?? {}) as Record<string, string>;
  const dec = (k: string) => Buffer.from(d[k] ?? '', 'base64').toString();
  return {
    obj: s,
    cert: dec('tls.crt'),
    key: dec('tls.key'),
    ca: dec('ca.crt'),
    caKey: dec('ca.key'),
    bundle: dec('ca-bundle.crt'),
  };
}

function bundles(fake: FakeKubeApi): string[] {
  return (['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'] as const).flatMap(
    (kind) =>
      (
        (fake.get(
          'admissionregistration.k8s.io/v1',
          kind,
          undefined,
          kind.startsWith('V') ? 'gra-validating' : 'gra-mutating',
        )?.webhooks ?? []) as Array<{
          clientConfig: { caBundle?: string };
        }>
      ).map((w) => w.clientConfig.caBundle ?? ''),
  );
}

async function open(fake: FakeKubeApi, now?: () => Date): Promise<SelfManagedCertSource> {
  const src = await createCertSource(settings, log, {
    kube: fake.connection(),
    ...(now ? { now } : {}),
    recheckMs: 3_600_000,
    retryMs: 3_600_000,
  });
  if (!(src instanceof SelfManagedCertSource))
    throw new Error('selfManaged mode must yield a SelfManagedCertSource');
  return src;
}

async function serve(pair: () => CertPair) {
  const server = https.createServer({ key: pair().key, cert: pair().cert }, (_req, res) =>
    res.end('ok'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** TLS handshake as the apiserver does it: dial <svc>.<ns>.svc, trust exactly `ca`. */
function handshake(
  port: number,
  ca: string,
): Promise<{ ok: true; serial: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'gra.ci.svc', ca }, () => {
      const serial = sock.getPeerCertificate().serialNumber;
      sock.end();
      resolve({ ok: true, serial });
    });
    sock.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

t.test(
  'two replicas racing on an empty cluster create the Secret once and serve the same cert',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    // Hold every Secret GET until both replicas have asked: both see 404, both try to create.
    const waiting: Array<() => void> = [];
    let held = 0;
    const undo = fake.intercept(async (r) => {
      if (r.kind !== 'Secret' || r.verb !== 'get' || held >= 2) return;
      held++;
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) waiting.forEach((w) => w());
      });
    });
    const [a, b] = await Promise.all([open(fake), open(fake)]);
    undo();
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const creates = fake.requests.filter((r) => r.kind === 'Secret' && r.verb === 'create');
    t.same(
      creates.map((r) => r.status).sort(),
      [201, 409],
      'one create wins, the other gets AlreadyExists',
    );
    t.equal(a.current().cert, b.current().cert, 'same serving cert on both replicas');
    t.equal(a.current().cert, secret(fake).cert, 'and it is the one in the Secret');
    t.equal(secret(fake).obj?.type, 'kubernetes.io/tls');
    t.ok(a.ready() && b.ready());
  },
);

t.test(
  'caBundle of every webhook in both configurations is patched to the bundle; not ready without them',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    const src = await open(fake);
    t.teardown(() => src.close());
    t.equal(src.ready(), false, 'configurations missing: not ready');
    t.ok(src.state().haveCert, 'but the cert is there');
    seedWebhookConfigs(fake);
    await src.refresh();
    t.equal(src.ready(), true);
    const want = Buffer.from(secret(fake).bundle).toString('base64');
    t.same(bundles(fake), [want, want, want, want]);
    t.ok(new X509Certificate(Buffer.from(want, 'base64').toString()).ca);
    // Someone (helm upgrade) resets a caBundle: the periodic re-check restores it.
    const v = fake.get(
      'admissionregistration.k8s.io/v1',
      'ValidatingWebhookConfiguration',
      undefined,
      'gra-validating',
    )!;
    (v.webhooks as Array<{ clientConfig: { caBundle?: string } }>)[1]!.clientConfig.caBundle = '';
    fake.put(v);
    await src.refresh();
    t.same(bundles(fake), [want, want, want, want]);
    const patches = fake.requests.filter((r) => r.verb === 'patch');
    t.ok(patches.every((p) => p.contentType === 'application/json-patch+json'));
    t.equal(patches.length, 3, 'two initial patches, one repair');
  },
);

t.test(
  'a patch losing a resourceVersion race is retried, an API outage keeps readiness',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    let bumped = false;
    fake.intercept((r) => {
      // Between our read and our patch, someone else updates the object.
      if (r.verb === 'patch' && !bumped) {
        bumped = true;
        fake.put(fake.get('admissionregistration.k8s.io/v1', r.kind, undefined, r.name!)!);
      }
    });
    const src = await open(fake);
    t.teardown(() => src.close());
    t.ok(bumped);
    t.ok(
      fake.requests.some((r) => r.verb === 'patch' && r.status === 409),
      'first patch conflicted',
    );
    t.equal(src.ready(), true, 'retried after re-reading');
    fake.failNext(500, () => true, 100);
    await src.refresh();
    t.equal(src.ready(), true, 'a 500 from the apiserver does not flip readiness');
  },
);

t.test(
  '403 on the Secret: not ready, a stand-in cert is served, recovers once allowed',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    const undo = fake.intercept((r) =>
      r.kind === 'Secret' ? { status: 403, message: 'secrets "gra-tls" is forbidden' } : undefined,
    );
    const src = await open(fake);
    t.teardown(() => src.close());
    t.equal(src.ready(), false);
    t.match(src.current().cert, /BEGIN CERTIFICATE/, 'a cert to start TLS with');
    const updates: CertPair[] = [];
    src.onUpdate((p) => updates.push(p));
    undo();
    await src.refresh();
    t.equal(src.ready(), true);
    t.equal(updates.length, 1);
    t.equal(updates[0]!.cert, secret(fake).cert);
  },
);

t.test(
  'renewal before expiry: leaf renewed at 2/3 of its life, other replicas pick it up',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    let now = new Date();
    const a = await open(fake, () => now);
    const b = await open(fake, () => now);
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const first = secret(fake);
    const serial0 = new X509Certificate(first.cert).serialNumber;
    now = new Date(Date.now() + 200 * DAY_MS);
    await a.refresh();
    t.equal(
      new X509Certificate(secret(fake).cert).serialNumber,
      serial0,
      '200 days into a 365-day cert: not yet',
    );
    const seen: CertPair[] = [];
    b.onUpdate((p) => seen.push(p));
    now = new Date(Date.now() + 250 * DAY_MS);
    await a.refresh();
    const renewed = secret(fake);
    t.not(
      new X509Certificate(renewed.cert).serialNumber,
      serial0,
      'renewed ~115 days before expiry',
    );
    t.equal(renewed.ca, first.ca, 'same CA: caBundle unchanged');
    t.equal(a.current().cert, renewed.cert);
    await b.refresh();
    t.equal(seen.length, 1, 'replica b reloads the renewed cert');
    t.equal(b.current().cert, renewed.cert);
    t.equal(
      fake.requests.filter((r) => r.kind === 'Secret' && r.verb === 'update' && r.status === 200)
        .length,
      1,
      'written once',
    );
  },
);

t.test(
  'CA rotation: clients trusting only the old CA and only the new CA both connect, then the old CA retires',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    // A CA issued 7 of its 10 years ago is due for rotation; its current leaf is fresh.
    const oldCa = generateCa({ now: new Date(Date.now() - 7 * 365 * DAY_MS) });
    const leaf = issueServingForService(oldCa, 'gra', 'ci');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    fake.put({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'gra-tls', namespace: 'ci' },
      data: {
        'tls.crt': b64(leaf.cert),
        'tls.key': b64(leaf.key),
        'ca.crt': b64(oldCa.cert),
        'ca.key': b64(oldCa.key),
        'ca-bundle.crt': b64(oldCa.cert),
      },
    });
    let now = new Date();
    const src = await open(fake, () => now);
    t.teardown(() => src.close());
    const s = secret(fake);
    t.not(s.ca, oldCa.cert, 'new CA generated');
    t.equal(s.caKey.includes(oldCa.key.trim()), false, 'old CA key no longer stored');
    t.equal(splitPemCerts(s.bundle).length, 2, 'bundle holds old and new CA');
    t.same(
      bundles(fake),
      Array(4).fill(toCaBundle(oldCa.cert, s.ca)),
      'webhook caBundle = old + new',
    );
    t.ok(src.ready());

    const { server, port } = await serve(() => src.current());
    t.teardown(() => server.close());
    src.onUpdate((p) => server.setSecureContext({ key: p.key, cert: p.cert }));
    const viaOld = await handshake(port, oldCa.cert);
    const viaNew = await handshake(port, s.ca);
    t.ok(viaOld.ok, `client trusting only the old CA connects (${viaOld.ok ? '' : viaOld.error})`);
    t.ok(viaNew.ok, `client trusting only the new CA connects (${viaNew.ok ? '' : viaNew.error})`);
    const stranger = await handshake(port, generateCa().cert);
    t.notOk(stranger.ok, 'a client trusting neither is refused (the test can fail)');

    // After the grace period the old CA leaves the bundle and the cross-signed cert leaves the chain.
    now = new Date(Date.now() + 6 * DAY_MS);
    await src.refresh();
    t.equal(splitPemCerts(secret(fake).bundle).length, 2, 'still in grace after 6 days');
    now = new Date(Date.now() + 8 * DAY_MS);
    await src.refresh();
    const after = secret(fake);
    t.equal(
      after.obj?.metadata.annotations &&
        (after.obj.metadata.annotations as Record<string, string>)[PREVIOUS_CA_UNTIL],
      undefined,
    );
    t.equal(splitPemCerts(after.bundle).length, 1);
    t.equal(splitPemCerts(after.cert).length, 1, 'leaf only');
    t.same(bundles(fake), Array(4).fill(toCaBundle(s.ca)));
    t.ok((await handshake(port, s.ca)).ok, 'new-CA client still connects');
    t.notOk((await handshake(port, oldCa.cert)).ok, 'old-CA client no longer does');
  },
);

t.test(
  'an unusable Secret (key does not match) is repaired with a new leaf from the same CA',
  async (t) => {
    const fake = await startFakeKubeApi();
    t.teardown(() => fake.close());
    seedWebhookConfigs(fake);
    const ca = generateCa();
    const leaf = issueServingForService(ca, 'gra', 'ci');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    fake.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gra-tls', namespace: 'ci' },
      data: {
        'tls.crt': b64(leaf.cert),
        'tls.key': b64(ca.key),
        'ca.crt': b64(ca.cert),
        'ca.key': b64(ca.key),
        'ca-bundle.crt': b64(ca.cert),
      },
    });
    const src = await open(fake);
    t.teardown(() => src.close());
    const s = secret(fake);
    t.equal(s.ca, ca.cert, 'CA kept');
    t.not(s.cert, leaf.cert);
    t.ok(src.ready());
  },
);
