/**
 * `gitlab-runner-admission scan` against a real kube-apiserver with about 1,000 objects: the
 * linked GRA211 finding, Secrets only with --secrets, a user who may read Secrets in one
 * namespace only (403 elsewhere, reported per namespace, the rest still checked), pagination,
 * the json/sarif formats, and PolicyReports printed and applied. The time a scan takes is
 * reported with t.comment, never asserted.
 */
import t from 'tap';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runScan, type ScanIo } from '../../src/cli/scan.js';
import { SKIP_CLUSTER, startCluster, type Cluster } from '../helpers/cluster.js';

// Creating ~1,000 objects and two scans take over a minute when other suites share the 2 cores:
// the runner's per-file timeout (package.json tap.timeout, 120 s) is raised for this file only.
t.setTimeout(400_000);

const REG = 'GR1348941Zq8vLm2XcT4pWb7nKd9s';
const NAMESPACES = Array.from({ length: 10 }, (_, i) => `team-${i}`);

async function scan(
  argv: string[],
  kubeConfig: KubeConfig,
): Promise<{ code: number; out: string; err: string; ms: number }> {
  const c = { out: '', err: '' };
  const io: ScanIo = {
    stdout: (s) => void (c.out += s),
    stderr: (s) => void (c.err += s),
    readStdin: async () => Buffer.alloc(0),
    isTTY: false,
    stderrIsTTY: false,
    env: {},
    kubeConfig,
  };
  const start = performance.now();
  const code = await runScan(argv, io);
  return { code, ...c, ms: Math.round(performance.now() - start) };
}

const runnerToml = (token: string) =>
  `concurrent = 1\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "${token}"\n  executor = "kubernetes"\n`;

function deployment(name: string, configMap: string) {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'runner',
              image: 'gitlab/gitlab-runner:v17.11.0',
              args: ['run', '--config=/etc/gitlab-runner/config.toml'],
              // runner 18.10+ expands ${RUNNER_TOKEN} in config.toml from the environment
              env: [
                {
                  name: 'RUNNER_TOKEN',
                  valueFrom: { secretKeyRef: { name: 'runner-tokens', key: 'runner-token' } },
                },
              ],
              volumeMounts: [
                {
                  name: 'config',
                  mountPath: '/etc/gitlab-runner/config.toml',
                  subPath: 'config.toml',
                },
              ],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: configMap } }],
        },
      },
    },
  };
}

async function inBatches<T>(
  items: T[],
  size: number,
  fn: (x: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** ~1,000 objects: per namespace 70 unrelated ConfigMaps, 15 runner configs with a working token reference, 10 runner Deployments, 5 Secrets. */
async function populate(cluster: Cluster): Promise<number> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  const jobs: (() => Promise<unknown>)[] = [];
  for (const ns of NAMESPACES) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (let i = 0; i < 70; i++)
      jobs.push(() =>
        core.createNamespacedConfigMap({
          namespace: ns,
          body: { metadata: { name: `app-${i}` }, data: { 'settings.json': `{"i":${i}}` } },
        }),
      );
    for (let i = 0; i < 15; i++)
      jobs.push(() =>
        core.createNamespacedConfigMap({
          namespace: ns,
          body: {
            metadata: { name: `runner-${i}` },
            data: { 'config.toml': runnerToml('${RUNNER_TOKEN}') },
          },
        }),
      );
    for (let i = 0; i < 10; i++)
      jobs.push(() =>
        apps.createNamespacedDeployment({
          namespace: ns,
          body: deployment(`runner-${i}`, `runner-${i}`),
        }),
      );
    for (let i = 0; i < 4; i++)
      jobs.push(() =>
        core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: `s-${i}` }, stringData: { password: `p${i}` } },
        }),
      );
    jobs.push(() =>
      core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: 'runner-tokens' },
          stringData: {
            'runner-token': 'glrt-Ab3dE6gH9jK2mN5pQ8sT',
            'runner-registration-token': '',
          },
        },
      }),
    );
  }
  // the mistakes: a placeholder config run by a Deployment (GRA211), a swapped chart Secret (GRA101)
  jobs.push(() =>
    core.createNamespacedConfigMap({
      namespace: 'team-3',
      body: {
        metadata: { name: 'broken-config' },
        data: { 'config.toml': runnerToml('YOUR_RUNNER_TOKEN') },
      },
    }),
  );
  jobs.push(() =>
    apps.createNamespacedDeployment({
      namespace: 'team-3',
      body: deployment('broken-runner', 'broken-config'),
    }),
  );
  jobs.push(() =>
    core.createNamespacedSecret({
      namespace: 'team-5',
      body: {
        metadata: { name: 'gitlab-runner' },
        stringData: { 'runner-token': REG, 'runner-registration-token': '' },
      },
    }),
  );
  await inBatches(jobs, 25, (j) => j());
  return jobs.length;
}

/** A user who may list everything but Secrets, and Secrets only in team-5 (a ServiceAccount token). */
async function restrictedUser(cluster: Cluster): Promise<KubeConfig> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const rbac = cluster.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({
    namespace: 'default',
    body: { metadata: { name: 'auditor' } },
  });
  const subject = [{ kind: 'ServiceAccount', name: 'auditor', namespace: 'default' }];
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'runner-auditor' },
      rules: [
        { apiGroups: [''], resources: ['configmaps', 'namespaces'], verbs: ['list'] },
        {
          apiGroups: ['apps'],
          resources: ['deployments', 'statefulsets', 'daemonsets'],
          verbs: ['list'],
        },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'runner-auditor' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'runner-auditor',
      },
      subjects: subject,
    },
  });
  await rbac.createNamespacedRole({
    namespace: 'team-5',
    body: {
      metadata: { name: 'secrets' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: 'team-5',
    body: {
      metadata: { name: 'secrets' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' },
      subjects: subject,
    },
  });
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: 'default',
    name: 'auditor',
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: cluster.server, caFile: cluster.caFile }],
    users: [{ name: 'auditor', token: tr.status?.token ?? '' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'auditor' }],
    currentContext: 'c',
  });
  return kc;
}

t.test(
  'scan a real cluster of ~1,000 objects',
  { skip: SKIP_CLUSTER, timeout: 380_000 },
  async (t) => {
    const cluster = await startCluster({ name: 'scan' });
    t.teardown(() => cluster.stop());
    const created = await populate(cluster);
    t.comment(`created ${created} objects in ${NAMESPACES.length} namespaces`);

    const admin = await scan(['--page-size', '100'], cluster.kubeConfig);
    t.comment(`scan of ${created} objects (no Secrets, 100 per page): ${admin.ms} ms`);
    t.equal(admin.code, 1, admin.err);
    t.match(
      admin.out,
      /team-3: deny GRA211 Deployment team-3\/broken-runner: .*YOUR_RUNNER_TOKEN|team-3: deny GRA211 Deployment team-3\/broken-runner/,
    );
    t.notMatch(admin.out, /GRA101/, 'Secrets are not read without --secrets');
    t.match(admin.out, /namespaces checked/);
    t.equal(
      (admin.out.match(/deny GRA211/g) ?? []).length,
      1,
      'the 100 working runner Deployments pass: their configs were linked too',
    );

    const json = await scan(['--secrets', '--format', 'json'], cluster.kubeConfig);
    t.comment(`scan with Secrets (json): ${json.ms} ms`);
    const doc = JSON.parse(json.out) as {
      findings: { ruleId: string }[];
      summary: { objectsChecked: number };
    };
    const ids = doc.findings.map((x) => x.ruleId);
    t.ok(ids.includes('GRA101'), 'the swapped Secret is found with --secrets');
    t.equal(
      ids.filter((i) => i === 'GRA211').length,
      1,
      'the working runners, linked with their token Secret, pass',
    );
    t.ok(
      doc.summary.objectsChecked >= 250,
      `runner objects checked: ${doc.summary.objectsChecked}`,
    );
    t.notMatch(json.out, new RegExp(REG), 'no whole token in the output');

    const sarif = await scan(['-n', 'team-3', '--format', 'sarif'], cluster.kubeConfig);
    t.equal(JSON.parse(sarif.out).version, '2.1.0');
    t.match(sarif.out, /GRA211/);

    const auditor = await restrictedUser(cluster);
    const limited = await scan(['--secrets'], auditor);
    t.equal(
      limited.code,
      2,
      'namespaces whose Secrets could not be listed make the scan incomplete: exit 2',
    );
    t.match(limited.err, /team-0: error: not allowed to list secrets, skipped/);
    t.notMatch(limited.err, /team-5: error/, 'team-5 Secrets were readable');
    t.match(limited.out, /deny GRA101 Secret team-5\/gitlab-runner/, 'and checked');
    t.match(limited.out, /deny GRA211/, 'the rest was still checked');

    const pr = await scan(
      ['-n', 'team-3,team-5', '--secrets', '--policy-report', '-'],
      cluster.kubeConfig,
    );
    const reports = parseAllDocuments(pr.out).map((d) => d.toJS());
    t.same(
      reports.map((r) => `${r.kind} ${r.metadata.namespace}`),
      ['PolicyReport team-3', 'PolicyReport team-5'],
    );
    const team3 = reports[0];
    t.equal(team3.apiVersion, 'wgpolicyk8s.io/v1alpha2');
    t.ok(
      team3.results.some(
        (r: { rule: string; result: string; resources: { name: string }[] }) =>
          r.rule === 'GRA211' && r.result === 'fail' && r.resources[0]?.name === 'broken-runner',
      ),
    );
    t.ok(team3.summary.pass > 0 && team3.summary.fail === 1, JSON.stringify(team3.summary));

    const none = await scan(['-n', 'team-3', '--apply-policy-reports'], cluster.kubeConfig);
    t.match(none.err, /PolicyReport CRD \(policyreports\.wgpolicyk8s\.io\) is not installed/);
    await installPolicyReportCrd(cluster);
    const applied = await scan(['-n', 'team-3', '--apply-policy-reports'], cluster.kubeConfig);
    t.match(applied.err, /policy report team-3\/gitlab-runner-admission: created/);
    const again = await scan(['-n', 'team-3', '--apply-policy-reports'], cluster.kubeConfig);
    t.match(again.err, /policy report team-3\/gitlab-runner-admission: replaced/);
    const stored = (await cluster.kubeConfig
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject({
        group: 'wgpolicyk8s.io',
        version: 'v1alpha2',
        namespace: 'team-3',
        plural: 'policyreports',
        name: 'gitlab-runner-admission',
      })) as { summary: { fail: number } };
    t.equal(stored.summary.fail, 1);

    // The chart's opt-in GitOps rules and CEL condition (webhook.gitops), compiled by this apiserver.
    const cel = (n: string) =>
      fs
        .readFileSync(
          path.resolve(import.meta.dirname, `../../charts/gitlab-runner-admission/cel/${n}.cel`),
          'utf8',
        )
        .trim();
    const api = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    // never called: no HelmRelease/Application CRD exists here, and the URL is a closed loopback port
    const vwc = await api.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: 'gra-gitops-cel' },
        webhooks: [
          {
            name: 'validate.gitlab-runner-admission.io',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Ignore',
            clientConfig: { url: 'https://127.0.0.1:1/validate' },
            rules: [
              {
                apiGroups: ['helm.toolkit.fluxcd.io'],
                apiVersions: ['v2', 'v2beta2', 'v2beta1'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['helmreleases'],
                scope: 'Namespaced',
              },
              {
                apiGroups: ['argoproj.io'],
                apiVersions: ['v1alpha1'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['applications', 'applicationsets'],
                scope: 'Namespaced',
              },
            ],
            matchConditions: ['configmap', 'secret', 'workload', 'gitops'].map((n) => ({
              name: `runner-${n}`,
              expression: cel(n),
            })),
          },
        ],
      },
    });
    t.equal(
      vwc.webhooks?.[0]?.matchConditions?.length,
      4,
      'the apiserver compiled all four conditions',
    );
  },
);

/** A minimal stand-in for the wg-policy CRD: the schema is not what is tested here. */
async function installPolicyReportCrd(cluster: Cluster): Promise<void> {
  const api = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  await api.createCustomResourceDefinition({
    body: {
      metadata: { name: 'policyreports.wgpolicyk8s.io' },
      spec: {
        group: 'wgpolicyk8s.io',
        scope: 'Namespaced',
        names: {
          plural: 'policyreports',
          singular: 'policyreport',
          kind: 'PolicyReport',
          listKind: 'PolicyReportList',
        },
        versions: [
          {
            name: 'v1alpha2',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
            },
          },
        ],
      },
    },
  });
  for (let i = 0; i < 50; i++) {
    const crd = await api.readCustomResourceDefinition({ name: 'policyreports.wgpolicyk8s.io' });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
