import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  KubeConfigError,
  inClusterTarget,
  loadKubeTarget,
  targetFromFiles,
} from '../../src/kube/kubeconfig.js';

/**
 * Where the server reaches the API (src/kube/kubeconfig.ts): kubectl's merge of a $KUBECONFIG
 * list, the in-cluster ServiceAccount, and the precedence between them. The real apiserver reads
 * these targets in test/cluster (TokenRequest kubeconfig, chart install).
 */

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function files(t: { testdir(): string }, tree: Record<string, string>) {
  const dir = t.testdir();
  for (const [name, text] of Object.entries(tree)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return (name: string) => path.join(dir, name);
}

t.test('one file: server, CA from a relative path, token, namespace', async (t) => {
  const p = files(t, {
    'kube/ca.crt': CA,
    'kube/config': `
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443/", certificate-authority: ca.crt, tls-server-name: api.local}
users:
- name: u
  user: {token: tok-abc}
contexts:
- name: a
  context: {cluster: c, user: u, namespace: ci}
`,
  });
  const target = await targetFromFiles([p('kube/config')]);
  t.equal(target.server, 'https://127.0.0.1:6443', 'trailing slash dropped');
  t.equal(target.ca, CA, 'certificate-authority read relative to the kubeconfig');
  t.equal(target.tlsServerName, 'api.local');
  t.equal(target.token, 'tok-abc');
  t.equal(target.namespace, 'ci');
});

t.test('a $KUBECONFIG list merges as kubectl does', async (t) => {
  const p = files(t, {
    'one.yaml': `
current-context: first
clusters: [{name: c, cluster: {server: "https://one:6443", certificate-authority-data: ${Buffer.from(CA).toString('base64')}}}]
users: [{name: u, user: {client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key: key.pem}}]
contexts: [{name: first, context: {cluster: c, user: u}}]
`,
    'key.pem': 'KEY',
    'two/two.yaml': `
current-context: second
clusters: [{name: c, cluster: {server: "https://two:6443"}}, {name: d, cluster: {server: "https://d:6443"}}]
users: [{name: w, user: {tokenFile: tok}}]
contexts: [{name: second, context: {cluster: d, user: w}}, {name: first, context: {cluster: d}}]
`,
  });
  const merged = await targetFromFiles([p('one.yaml'), p('missing.yaml'), p('two/two.yaml')]);
  t.equal(merged.server, 'https://one:6443', 'the first file that defines a name wins');
  t.equal(merged.ca, CA);
  t.equal(merged.cert, 'CERT', '*-data is base64');
  t.equal(merged.key, 'KEY', 'a file path is relative to its own kubeconfig');
  t.equal(merged.source, [p('one.yaml'), p('missing.yaml'), p('two/two.yaml')].join(':'));

  const second = await targetFromFiles([p('two/two.yaml'), p('one.yaml')]);
  t.equal(second.server, 'https://d:6443', 'current-context of the first file that sets one');
  t.equal(second.tokenFile, p('two/tok'), 'tokenFile resolved against its kubeconfig');

  const named = await targetFromFiles([p('two/two.yaml')], 'first');
  t.equal(named.server, 'https://d:6443', 'a named context');
  t.notOk(named.token ?? named.tokenFile, 'a context without a user is anonymous');

  await t.rejects(targetFromFiles([p('nope'), p('nope2')]), {
    name: 'KubeConfigError',
    message: /does not exist/,
  });
});

t.test('what the client cannot do is refused at load, with the reason', async (t) => {
  const cfg = (user: string, cluster = '') => `
current-context: a
clusters: [{name: c, cluster: {server: "https://x:6443"${cluster}}}]
users: [{name: u, user: ${user}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
`;
  const p = files(t, {
    provider: cfg('{auth-provider: {name: gcp}}'),
    proxy: cfg('{token: x}', ', proxy-url: "http://proxy:3128"'),
    exec: cfg(
      '{exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/login, args: [--x], env: [{name: A, value: b}]}}',
    ),
    nocontext: 'clusters: []\n',
    badyaml: 'a: [\n',
    list: '- 1\n',
    nocluster: 'current-context: a\ncontexts: [{name: a, context: {cluster: gone}}]\n',
  });
  await t.rejects(targetFromFiles([p('provider')]), {
    message: /auth-provider "gcp", which Kubernetes 1\.26 removed; use its exec credential plugin/,
  });
  await t.rejects(targetFromFiles([p('proxy')]), { message: /proxy-url/ });
  await t.rejects(targetFromFiles([p('nocontext')]), { message: /no current-context/ });
  await t.rejects(targetFromFiles([p('badyaml')]), { message: /not valid YAML/ });
  await t.rejects(targetFromFiles([p('list')]), { message: /not a mapping/ });
  await t.rejects(targetFromFiles([p('nocluster')]), { message: /cluster "gone"/ });
  const exec = await targetFromFiles([p('exec')]);
  t.same(exec.exec, {
    command: './bin/login',
    args: ['--x'],
    env: { A: 'b' },
    apiVersion: 'client.authentication.k8s.io/v1',
    dir: path.dirname(p('exec')),
  });
});

t.test('in-cluster: the Service env vars and the projected ServiceAccount files', async (t) => {
  const p = files(t, { 'sa/token': 'sa-token', 'sa/ca.crt': CA, 'sa/namespace': 'gra\n' });
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const target = inClusterTarget(env, p('sa'));
  t.same(target, {
    server: 'https://10.96.0.1:443',
    tokenFile: p('sa/token'),
    source: 'in-cluster',
    ca: CA,
    namespace: 'gra',
  });
  t.equal(
    inClusterTarget({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, p('sa'))
      .server,
    'https://[fd00::1]:443',
    'an IPv6 host is bracketed',
  );
  t.throws(() => inClusterTarget({}, p('sa')), KubeConfigError);
  t.throws(() => inClusterTarget(env, p('nowhere')), { message: /ca\.crt/ });
});

t.test('precedence: $KUBECONFIG, then in-cluster, then ~/.kube/config', async (t) => {
  const p = files(t, {
    'sa/token': 'x',
    'sa/ca.crt': CA,
    'home/.kube/config':
      'current-context: a\nclusters: [{name: c, cluster: {server: "https://home:1"}}]\ncontexts: [{name: a, context: {cluster: c}}]\n',
    env: 'current-context: a\nclusters: [{name: c, cluster: {server: "https://env:1"}}]\ncontexts: [{name: a, context: {cluster: c}}]\n',
  });
  const cluster = { KUBERNETES_SERVICE_HOST: 'k', KUBERNETES_SERVICE_PORT: '443' };
  const home = p('home');
  t.equal(
    (await loadKubeTarget({ ...cluster, HOME: home, KUBECONFIG: p('env') }, p('sa'))).server,
    'https://env:1',
  );
  t.equal((await loadKubeTarget({ ...cluster, HOME: home }, p('sa'))).server, 'https://k:443');
  t.equal((await loadKubeTarget({ HOME: home }, p('nowhere'))).server, 'https://home:1');
  await t.rejects(loadKubeTarget({ HOME: p('nohome') }, p('nowhere')), {
    message: /no kubeconfig/,
  });
});
