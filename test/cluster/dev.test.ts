/**
 * The README's local flow: the dev CA that `npm start` writes, registered by
 * `url: https://127.0.0.1:<port>/validate`, is accepted by a real kube-apiserver (Go's
 * crypto/x509 parses it) and the seed ConfigMap is denied through it.
 */
import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SKIP_CLUSTER, freePort, startCluster } from '../helpers/cluster.js';
import { fixturesDir, readYamlDocs, SEED_REG_TOKEN } from '../helpers/fixtures.js';
import { apiCall, applyAll, startWebhook } from '../helpers/webhook-process.js';

t.setTimeout(300_000);

t.test('dev mode (npm start) behind a real kube-apiserver', { skip: SKIP_CLUSTER }, async (t) => {
  const cluster = await startCluster({ name: 'dev' });
  t.teardown(() => cluster.stop());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-dev-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  // what `npm start` runs, with the port moved off 8443 so parallel runs do not collide
  const wh = await startWebhook({
    GRA_PORT: String(port),
    GRA_METRICS_PORT: '0',
    GRA_CERT_DIR: path.join(dir, 'certs'),
  });
  t.teardown(() => wh.stop('SIGKILL'));
  const ca = await readFile(path.join(dir, 'certs/ca.crt'), 'utf8');

  const cfg = readYamlDocs(path.join(fixturesDir, 'dev/webhook-local.yaml'))[0];
  cfg.webhooks[0].clientConfig.url = `https://127.0.0.1:${port}/validate`;
  cfg.webhooks[0].clientConfig.caBundle = Buffer.from(ca).toString('base64');
  await applyAll(cluster.kubeConfig, [cfg]);
  await apiCall(cluster, 'POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'gitlab-runner', labels: { 'gitlab-runner-admission/dev': 'true' } },
  });

  const cm = readYamlDocs(path.join(fixturesDir, 'seed/configmap-registration-token.yaml'))[0];
  let r = await apiCall(cluster, 'POST', '/api/v1/namespaces/gitlab-runner/configmaps', cm);
  // the apiserver's webhook informer may not have the new configuration yet
  for (let i = 0; i < 50 && r.status === 201; i++) {
    await apiCall(
      cluster,
      'DELETE',
      '/api/v1/namespaces/gitlab-runner/configmaps/gitlab-runner-config',
    );
    await new Promise((res) => setTimeout(res, 100));
    r = await apiCall(cluster, 'POST', '/api/v1/namespaces/gitlab-runner/configmaps', cm);
  }
  t.equal(r.status, 403, 'denied through the dev webhook');
  t.match(
    r.json?.message,
    /admission webhook "validate\.dev\.gitlab-runner-admission\.io" denied the request/,
  );
  t.match(
    r.json?.message,
    /\[GRA001\] key "config\.toml", \[\[runners\]\] #0 "ois-cfa-runner", line 8/,
  );
  t.notOk(r.text.includes(SEED_REG_TOKEN));
  t.notMatch(r.text, /x509|certificate/, 'no TLS trouble: the apiserver parsed the dev CA');
});
