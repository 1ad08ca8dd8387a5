import t from 'tap';
import { AdmissionregistrationV1Api, ApiException, CoreV1Api } from '@kubernetes/client-node';
import { startFakeKubeApi } from '../helpers/fake-kube-api.js';

t.test('fake kube api speaks the subset client-node needs', async (t) => {
  const fake = await startFakeKubeApi();
  t.teardown(() => fake.close());
  const kc = fake.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);

  const e404 = await core
    .readNamespacedSecret({ name: 's', namespace: 'ns' })
    .catch((e: unknown) => e);
  t.ok(e404 instanceof ApiException && e404.code === 404, 'missing secret is a 404 ApiException');

  const created = await core.createNamespacedSecret({
    namespace: 'ns',
    body: { metadata: { name: 's' }, stringData: { a: 'b' } },
  });
  t.equal(created.data?.a, Buffer.from('b').toString('base64'), 'stringData folded into data');
  t.ok(created.metadata?.resourceVersion);
  const dup = await core
    .createNamespacedSecret({ namespace: 'ns', body: { metadata: { name: 's' } } })
    .catch((e: unknown) => e);
  t.ok(
    dup instanceof ApiException &&
      dup.code === 409 &&
      (dup.body as string).includes('AlreadyExists'),
    '409 AlreadyExists',
  );

  const updated = await core.replaceNamespacedSecret({
    name: 's',
    namespace: 'ns',
    body: { ...created, data: { a: 'Yw==' } },
  });
  t.not(updated.metadata?.resourceVersion, created.metadata?.resourceVersion);
  const stale = await core
    .replaceNamespacedSecret({ name: 's', namespace: 'ns', body: created })
    .catch((e: unknown) => e);
  t.ok(
    stale instanceof ApiException && stale.code === 409,
    'stale resourceVersion on PUT is a 409',
  );

  fake.put({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'vwc' },
    webhooks: [
      { name: 'a.example.com', clientConfig: { service: { name: 'svc', namespace: 'ns' } } },
    ],
  });
  const vwc = await adm.readValidatingWebhookConfiguration({ name: 'vwc' });
  const rv = vwc.metadata!.resourceVersion!;
  const patched = await adm.patchValidatingWebhookConfiguration({
    name: 'vwc',
    body: [
      { op: 'replace', path: '/metadata/resourceVersion', value: rv },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'Q0E=' },
    ],
  });
  t.equal(patched.webhooks?.[0]?.clientConfig.caBundle, 'Q0E=');
  t.equal(fake.requests.at(-1)?.contentType, 'application/json-patch+json');
  const conflict = await adm
    .patchValidatingWebhookConfiguration({
      name: 'vwc',
      body: [{ op: 'replace', path: '/metadata/resourceVersion', value: rv }],
    })
    .catch((e: unknown) => e);
  t.ok(
    conflict instanceof ApiException && conflict.code === 409,
    'stale resourceVersion in a patch is a 409',
  );

  fake.put({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cm', namespace: 'ns' },
    data: { k: 'v' },
  });
  t.equal((await core.readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })).data?.k, 'v');
  t.equal((await core.listNamespacedConfigMap({ namespace: 'ns' })).items.length, 1);

  const undo = fake.failNext(403, (r) => r.kind === 'ConfigMap');
  const e403 = await core
    .readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })
    .catch((e: unknown) => e);
  t.ok(e403 instanceof ApiException && e403.code === 403);
  t.equal(
    (await core.readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })).data?.k,
    'v',
    'failNext is one-shot',
  );
  undo();
  fake.failNext(500);
  const e500 = await core
    .readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })
    .catch((e: unknown) => e);
  t.ok(e500 instanceof ApiException && e500.code === 500);

  const bad = fake.kubeConfig();
  bad.users = [{ name: 'fake', token: 'wrong' }];
  const e401 = await bad
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ name: 'cm', namespace: 'ns' })
    .catch((e: unknown) => e);
  t.ok(e401 instanceof ApiException && e401.code === 401, 'wrong token is refused');
});
