import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';
import {
  KubeApiError,
  connectKube,
  corePath,
  createKubeClient,
  type KubeClient,
} from '../../src/kube/client.js';
import { generateCa } from '../../src/certs/generate.js';

/**
 * The server's own Kubernetes client (src/kube/client.ts) over real HTTPS against the fake API
 * (test/helpers/fake-kube-api.ts): the calls lookups and selfManaged certs make, Status errors,
 * each way to authenticate, and failures that must never carry a credential. The real
 * kube-apiserver drives the same client in test/cluster (chart install, selfManaged, lookups).
 */

const kube = await startFakeKubeApi();
t.teardown(() => kube.close());
const clients: KubeClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
function client(...args: Parameters<typeof createKubeClient>): KubeClient {
  const c = createKubeClient(...args);
  clients.push(c);
  return c;
}

kube.put({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 's', namespace: 'ci' },
  data: { token: Buffer.from('glrt-secretvalue1234').toString('base64') },
});

t.test('get, create, replace and JSON-patch, as the server uses them', async (t) => {
  const c = client(kube.target());
  const s = (await c.request('GET', corePath('ci', 'secrets', 's'))) as {
    metadata: { resourceVersion: string };
  };
  t.match(s, { kind: 'Secret', metadata: { name: 's' } });
  await c.request('POST', corePath('ci', 'secrets'), {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'n', namespace: 'ci' } },
  });
  t.ok(kube.get('v1', 'Secret', 'ci', 'n'), 'created');
  const created = kube.get('v1', 'Secret', 'ci', 'n')!;
  await c.request('PUT', corePath('ci', 'secrets', 'n'), {
    body: { ...created, data: { a: 'Yg==' } },
  });
  t.same(kube.get('v1', 'Secret', 'ci', 'n')?.data, { a: 'Yg==' }, 'replaced');
  kube.put({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'v' },
    webhooks: [{ name: 'a.example.com', clientConfig: {} }],
  });
  await c.request(
    'PATCH',
    '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/v',
    {
      body: [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'Q0E=' }],
      contentType: 'application/json-patch+json',
    },
  );
  t.match(
    kube.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'v'),
    { webhooks: [{ clientConfig: { caBundle: 'Q0E=' } }] },
  );
  t.match(kube.requests.at(-1), { verb: 'patch', contentType: 'application/json-patch+json' });
  t.equal(corePath('a/b', 'secrets', 'x y'), '/api/v1/namespaces/a%2Fb/secrets/x%20y');
});

t.test('a non-2xx answer is a KubeApiError with the Status reason', async (t) => {
  const c = client(kube.target());
  const err = await c.request('GET', corePath('ci', 'secrets', 'absent')).catch((e) => e);
  t.ok(err instanceof KubeApiError);
  t.match(err, { code: 404, reason: 'NotFound', message: /^HTTP 404: .*absent/ });
  const undo = kube.failNext(409);
  t.match(await c.request('PUT', corePath('ci', 'secrets', 's'), { body: {} }).catch((e) => e), {
    code: 409,
  });
  undo();
});

t.test('credentials never reach an error message', async (t) => {
  const wrong = client({ ...kube.target(), token: 'glrt-WRONGTOKENVALUE9876' });
  const err = (await wrong
    .request('GET', corePath('ci', 'secrets', 's'))
    .catch((e: unknown) => e)) as Error;
  t.match(err, { code: 401 });
  t.notMatch(String(err.message) + String(err.stack), /WRONGTOKEN|9876/);
  // a server certificate from a CA the target does not trust: a TLS error, not a KubeApiError
  const other = generateCa({ commonName: 'someone-else' });
  const untrusted = client({ ...kube.target(), ca: other.cert });
  const tlsErr = (await untrusted
    .request('GET', corePath('ci', 'secrets', 's'))
    .catch((e: unknown) => e)) as Error;
  t.notOk(tlsErr instanceof KubeApiError);
  t.match(tlsErr, { code: /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/ });
  t.notMatch(String(tlsErr.message), new RegExp(kube.token));
});

t.test('a token file is read again once its TTL has passed (bound tokens rotate)', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'token');
  writeFileSync(file, `${kube.token}\n`);
  const c = client({ ...kube.target(), token: undefined, tokenFile: file } as never, {
    tokenFileTtlMs: 0,
  });
  t.ok(await c.request('GET', corePath('ci', 'secrets', 's')), 'the token from the file');
  writeFileSync(file, 'rotated-to-something-else');
  t.match(await c.request('GET', corePath('ci', 'secrets', 's')).catch((e) => e), { code: 401 });
  const cached = client({ ...kube.target(), token: undefined, tokenFile: file } as never);
  writeFileSync(file, kube.token);
  await cached.request('GET', corePath('ci', 'secrets', 's'));
  writeFileSync(file, 'rotated-to-something-else');
  t.ok(
    await cached.request('GET', corePath('ci', 'secrets', 's')),
    'within the TTL the token read last is used',
  );
  const missing = client({ ...kube.target(), token: undefined, tokenFile: `${file}.x` } as never);
  t.match(await missing.request('GET', '/api').catch((e) => e), {
    message: /cannot read the token file .*: ENOENT/,
  });
});

t.test('an exec credential plugin runs once per credential lifetime', async (t) => {
  const dir = t.testdir();
  const counter = path.join(dir, 'runs');
  const plugin = path.join(dir, 'login.sh');
  const script = (expires: string) =>
    `#!/bin/sh\necho x >> "${counter}"\n[ "$GREETING" = hi ] || exit 3\n` +
    `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${kube.token}"${expires}}}'\n`;
  writeFileSync(plugin, script(''));
  chmodSync(plugin, 0o755);
  const target = {
    server: kube.url,
    ca: kube.ca,
    source: 'test',
    exec: {
      command: plugin,
      args: [],
      env: { GREETING: 'hi' },
      apiVersion: 'client.authentication.k8s.io/v1',
    },
  };
  const c = client(target);
  await c.request('GET', corePath('ci', 'secrets', 's'));
  await c.request('GET', corePath('ci', 'secrets', 's'));
  t.equal((await readFile(counter, 'utf8')).split('\n').filter(Boolean).length, 1, 'cached');

  writeFileSync(plugin, script(',"expirationTimestamp":"2000-01-01T00:00:00Z"'));
  const expiring = client(target);
  await expiring.request('GET', corePath('ci', 'secrets', 's'));
  await expiring.request('GET', corePath('ci', 'secrets', 's'));
  t.equal(
    (await readFile(counter, 'utf8')).split('\n').filter(Boolean).length,
    3,
    'an expired credential is fetched again',
  );

  const failing = client({ ...target, exec: { ...target.exec, env: {} } });
  const err = await failing.request('GET', '/api').catch((e) => e);
  t.match(err, { message: /exec credential plugin login\.sh failed \(3\)/ });
});

t.test('a caller signal aborts the request; the default timeout bounds the rest', async (t) => {
  const undo = kube.latency(2000);
  t.teardown(undo);
  const c = client(kube.target(), { timeoutMs: 100 });
  const t0 = Date.now();
  t.match(await c.request('GET', corePath('ci', 'secrets', 's')).catch((e) => e), {
    name: /AbortError|TimeoutError/,
  });
  t.ok(Date.now() - t0 < 1500, 'the default timeout');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  t.match(
    await c.request('GET', corePath('ci', 'secrets', 's'), { signal: ac.signal }).catch((e) => e),
    { name: 'AbortError' },
  );
});

t.test('connectKube: a client, or one line saying why there is none', async (t) => {
  const ok = await connectKube(kube.target());
  t.ok(ok.client);
  ok.client?.close();
  const bad = await connectKube({ server: 'ftp://example', source: 'test' });
  t.notOk(bad.client);
  t.match(bad, { unavailable: /only https and http/ });
});
