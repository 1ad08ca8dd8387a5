/**
 * The chart installed for real on a real kube-apiserver, the built webhook running as the chart's
 * pod would, and every flow asserted through the apiserver: its denials, Warning headers, audit
 * log, stored objects and its own metrics. The apiserver is Go: it parses our caBundle with
 * crypto/x509, merges stringData, compiles the matchConditions, dials the Service's ClusterIP.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { SKIP_CLUSTER, startCluster, type Cluster } from '../helpers/cluster.js';
import { fixturesDir, readYamlDocs, SEED_AUTH_TOKEN, SEED_REG_TOKEN } from '../helpers/fixtures.js';
import {
  apiCall,
  applyAll,
  chartEnv,
  helmTemplate,
  installChart,
  metricSum,
  scrape,
  startWebhook,
  type Install,
  type WebhookProcess,
} from '../helpers/webhook-process.js';
import { redactToken } from '../../src/tokens/redact.js';

const seed = (f: string) => readYamlDocs(path.join(fixturesDir, 'seed', f))[0];
const NS = 'gitlab-runner';
const REQ = 'gitlab_runner_admission_requests_total';
// one cluster and one webhook for every flow below; a loaded 2-core CI box needs more than tap's 120 s
t.setTimeout(400_000);

async function createNs(
  cluster: Cluster,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  const r = await apiCall(cluster, 'POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels },
  });
  if (r.status !== 201) throw new Error(`namespace ${name}: ${r.text}`);
}

function withNs<T extends { metadata: { namespace?: string; name?: string } }>(
  o: T,
  ns: string,
  name?: string,
): T {
  const c = structuredClone(o);
  c.metadata.namespace = ns;
  if (name) c.metadata.name = name;
  return c;
}

const cmPath = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;
const secretPath = (ns: string) => `/api/v1/namespaces/${ns}/secrets`;
const deployPath = (ns: string) => `/apis/apps/v1/namespaces/${ns}/deployments`;

function registerRunners(obj: any): number {
  const spec = obj?.spec?.template?.spec ?? obj?.spec;
  return (spec?.initContainers ?? []).filter((c: { name: string }) => c.name === 'register-runner')
    .length;
}

/** p-quantile (linear within the bucket, as PromQL's histogram_quantile) of summed buckets */
function quantile(buckets: Map<number, number>, q: number): number {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const c = buckets.get(le)!;
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(c - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

t.test(
  'the chart on a real kube-apiserver',
  { skip: SKIP_CLUSTER, timeout: 300_000 },
  async (t) => {
    const cluster = await startCluster({ name: 'chart', audit: true });
    t.teardown(() => cluster.stop());
    const inst: Install = await installChart(cluster);
    const pod = await chartEnv(cluster, inst);
    t.teardown(() => rm(pod.dir, { recursive: true, force: true }));
    let wh: WebhookProcess = await startWebhook(pod.env);
    // SIGKILL: the chart's 20 s SIGTERM drain has its own tests (test/e2e/shutdown)
    t.teardown(() => wh.stop('SIGKILL'));
    const metrics = () => scrape(wh.metricsUrl!);

    t.match(inst.clusterIP, /^127\.200\./, 'the Service ClusterIP is loopback');
    t.equal(pod.env.GRA_CERT_MODE, 'selfManaged', 'default values: selfManaged certificates');

    await createNs(cluster, NS);
    await createNs(cluster, 'runners-warn', { 'gitlab-runner-admission/mode': 'warn' });
    await createNs(cluster, 'runners-audit', { 'gitlab-runner-admission/mode': 'audit' });

    await t.test(
      'the webhook patched a caBundle the apiserver can load (Go crypto/x509)',
      async (t) => {
        const adm = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
        const v = await adm.readValidatingWebhookConfiguration({ name: inst.validating });
        const m = await adm.readMutatingWebhookConfiguration({ name: inst.mutating });
        for (const w of [...(v.webhooks ?? []), ...(m.webhooks ?? [])]) {
          t.ok(w.clientConfig.caBundle, `${w.name} has a caBundle`);
          t.equal(w.clientConfig.url, undefined, `${w.name} goes through the Service`);
          t.equal(w.clientConfig.service?.namespace, inst.namespace);
        }
      },
    );

    await t.test(
      'the seed ConfigMap is denied: config.toml, the runner, line 8, the token redacted',
      async (t) => {
        const r = await apiCall(
          cluster,
          'POST',
          cmPath(NS),
          seed('configmap-registration-token.yaml'),
        );
        t.equal(r.status, 403, r.text.slice(0, 300));
        const msg: string = r.json?.message ?? '';
        t.match(
          msg,
          /admission webhook "validate\.gitlab-runner-admission\.io" denied the request/,
        );
        t.match(msg, /config\.toml/);
        t.match(msg, /ois-cfa-runner/);
        t.match(msg, /line 8\b/);
        t.ok(
          msg.includes(redactToken(SEED_REG_TOKEN)),
          `the redacted token ${redactToken(SEED_REG_TOKEN)} is named`,
        );
        t.notOk(r.text.includes(SEED_REG_TOKEN), 'the whole token never comes back');
        const get = await apiCall(cluster, 'GET', `${cmPath(NS)}/gitlab-runner-config`);
        t.equal(get.status, 404, 'not stored');
        t.comment(`apiserver said: ${msg.split('\n')[0]}`);
      },
    );

    await t.test('a namespace labelled warn: admitted with Warning lines', async (t) => {
      const r = await apiCall(
        cluster,
        'POST',
        cmPath('runners-warn'),
        withNs(seed('configmap-registration-token.yaml'), 'runners-warn'),
      );
      t.equal(r.status, 201, r.text.slice(0, 300));
      t.ok(r.warnings.length > 0, 'the apiserver relays Warning headers');
      t.comment(`Warning: ${r.warnings.join(' | ')}`);
      t.ok(
        r.warnings.some((w) =>
          /^GRA001 key "config\.toml", \[\[runners\]\] #0 "ois-cfa-runner", line 8: registration token/.test(
            w,
          ),
        ),
        'a warning names the rule, config.toml, the runner and line 8',
      );
      t.notOk(r.warnings.join('\n').includes(SEED_REG_TOKEN));
    });

    await t.test(
      'a namespace labelled audit: admitted, findings in the audit log annotations',
      async (t) => {
        const r = await apiCall(
          cluster,
          'POST',
          cmPath('runners-audit'),
          withNs(seed('configmap-registration-token.yaml'), 'runners-audit'),
        );
        t.equal(r.status, 201, r.text.slice(0, 300));
        t.same(r.warnings, [], 'no warnings in audit mode');
        let event: any;
        for (let i = 0; i < 50 && !event; i++) {
          const lines = readFileSync(cluster.auditLogPath!, 'utf8').split('\n').filter(Boolean);
          event = lines
            .map((l) => JSON.parse(l))
            .find(
              (e) =>
                e.stage === 'ResponseComplete' &&
                e.verb === 'create' &&
                e.objectRef?.namespace === 'runners-audit' &&
                e.objectRef?.resource === 'configmaps',
            );
          if (!event) await new Promise((r) => setTimeout(r, 100));
        }
        t.ok(event, 'the create is in the audit log');
        const ann = Object.entries<string>(event?.annotations ?? {}).filter(([k]) =>
          k.startsWith('audit.validate.gitlab-runner-admission.io/'),
        );
        t.ok(
          ann.length > 0,
          `audit annotations from our webhook: ${ann.map(([k]) => k).join(', ')}`,
        );
        const a = Object.fromEntries(ann);
        t.equal(
          a['audit.validate.gitlab-runner-admission.io/would-deny'],
          'true',
          'would have denied',
        );
        t.match(a['audit.validate.gitlab-runner-admission.io/findings'], /GRA001/);
        t.match(a['audit.validate.gitlab-runner-admission.io/detail'], /config\.toml.*line 8/);
        t.notOk(
          JSON.stringify(event).includes(SEED_REG_TOKEN),
          'the whole token is not in the audit event',
        );
      },
    );

    await t.test('a config with an authentication token (glrt-) is admitted', async (t) => {
      const cm = withNs(seed('configmap-registration-token.yaml'), NS, 'runner-glrt');
      cm.data['config.toml'] = cm.data['config.toml']
        .replace(SEED_REG_TOKEN, SEED_AUTH_TOKEN)
        .replace('# Registration token', '');
      const r = await apiCall(cluster, 'POST', cmPath(NS), cm);
      t.equal(r.status, 201, r.text.slice(0, 300));
      // an authentication token is the right kind; keeping it in a ConfigMap is only a warning
      t.notOk(
        r.warnings.some((w) => /GRA001|registration/.test(w)),
        `no registration-token finding: ${r.warnings.join(' | ')}`,
      );
    });

    await t.test(
      'the chart Secret with swapped keys is denied (written with stringData)',
      async (t) => {
        const r = await apiCall(cluster, 'POST', secretPath(NS), seed('secret-swapped-keys.yaml'));
        t.equal(r.status, 403, r.text.slice(0, 300));
        t.match(r.json?.message, /denied the request/);
        t.match(r.json?.message, /runner-token/);
        t.notOk(
          r.text.includes(SEED_REG_TOKEN) || r.text.includes(SEED_AUTH_TOKEN),
          'no whole token in the denial',
        );
      },
    );

    await t.test('stringData is merged by the apiserver before we see it', async (t) => {
      // a config.toml with a registration token, only in stringData: denied like data would be
      const bad = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'runner-config-secret', namespace: NS },
        stringData: {
          'config.toml': seed('configmap-registration-token.yaml').data['config.toml'],
        },
      };
      const r = await apiCall(cluster, 'POST', secretPath(NS), bad);
      t.equal(r.status, 403, r.text.slice(0, 300));
      t.match(r.json?.message, /config\.toml/);
      // the chart-style token Secret, right slots: admitted and stored as data
      const ok = await apiCall(cluster, 'POST', secretPath(NS), seed('secret-runner-tokens.yaml'));
      t.equal(ok.status, 201, ok.text.slice(0, 300));
      t.equal(
        Buffer.from(ok.json?.data?.['runner-registration-token'] ?? '', 'base64').toString(),
        SEED_REG_TOKEN,
      );
    });

    await t.test(
      'seed run-only Deployment + template ConfigMap + token Secret: exactly one register-runner',
      async (t) => {
        const tpl = await apiCall(cluster, 'POST', cmPath(NS), seed('configmap-template.yaml'));
        t.equal(tpl.status, 201, tpl.text.slice(0, 300));
        const dep = seed('deployment-run.yaml');
        dep.metadata.annotations = {
          'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens',
        };
        const created = await apiCall(cluster, 'POST', deployPath(NS), dep);
        t.equal(created.status, 201, created.text.slice(0, 400));
        t.equal(registerRunners(created.json), 1, 'created with one register-runner');
        t.ok(
          created.json?.metadata?.annotations?.['gitlab-runner-admission/injected'],
          'the injection is recorded on the object',
        );

        // re-apply the original manifest (kubectl replace): the webhook sees it without the initContainer
        const cur = (await apiCall(cluster, 'GET', `${deployPath(NS)}/gitlab-runner`)).json;
        const again = structuredClone(dep);
        again.metadata.resourceVersion = cur.metadata.resourceVersion;
        const replaced = await apiCall(cluster, 'PUT', `${deployPath(NS)}/gitlab-runner`, again);
        t.equal(replaced.status, 200, replaced.text.slice(0, 400));
        t.equal(
          registerRunners(replaced.json),
          1,
          'still one after re-applying the original manifest',
        );

        // server-side apply of the original manifest, as `kubectl apply --server-side` sends it
        const ssa = await apiCall(
          cluster,
          'PATCH',
          `${deployPath(NS)}/gitlab-runner?fieldManager=kubectl&force=true`,
          dep,
          'application/apply-patch+yaml',
        );
        t.equal(ssa.status, 200, ssa.text.slice(0, 400));
        t.equal(registerRunners(ssa.json), 1, 'still one after a server-side apply');

        // and an update that touches the injected list itself does not double it
        const stored = (await apiCall(cluster, 'GET', `${deployPath(NS)}/gitlab-runner`)).json;
        t.equal(registerRunners(stored), 1, 'stored with exactly one');
      },
    );

    await t.test('dry-run: denied the same way, admitted ones not stored', async (t) => {
      const bad = withNs(seed('configmap-registration-token.yaml'), NS, 'dry-bad');
      const r = await apiCall(cluster, 'POST', `${cmPath(NS)}?dryRun=All`, bad);
      t.equal(r.status, 403);
      t.match(r.json?.message, /config\.toml/);
      const good = withNs(seed('configmap-template.yaml'), NS, 'dry-good');
      const ok = await apiCall(cluster, 'POST', `${cmPath(NS)}?dryRun=All`, good);
      t.equal(ok.status, 201, ok.text.slice(0, 300));
      t.equal(
        (await apiCall(cluster, 'GET', `${cmPath(NS)}/dry-good`)).status,
        404,
        'dry-run stored nothing',
      );
      const dep = withNs(seed('deployment-run.yaml'), NS, 'dry-run-dep');
      dep.metadata.annotations = { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' };
      const d = await apiCall(cluster, 'POST', `${deployPath(NS)}?dryRun=All`, dep);
      t.equal(d.status, 201, d.text.slice(0, 300));
      t.equal(registerRunners(d.json), 1, 'the dry-run answer shows the injection');
    });

    await t.test('objects that are not runner configs never reach the webhook', async (t) => {
      const before = metricSum(await metrics(), REQ);
      const plain = [
        [
          cmPath(NS),
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'plain' },
            // no *.toml key (every *.toml key reaches the webhook: only the parser can tell
            // gitlab-runner's config from other TOML); configmap.cel reads key names only, so
            // prose about [[runners]] under another key stays off the wire
            data: { 'app.properties': 'a=b', 'notes.txt': 'declare each [[runners]] table' },
          },
        ],
        [
          secretPath(NS),
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'plain' },
            stringData: { password: 'hunter2' },
          },
        ],
        [
          deployPath(NS),
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'nginx' },
            spec: {
              selector: { matchLabels: { a: 'b' } },
              template: {
                metadata: { labels: { a: 'b' } },
                spec: { containers: [{ name: 'n', image: 'nginx:1.27' }] },
              },
            },
          },
        ],
        [
          '/api/v1/namespaces/' + NS + '/services',
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'plain' },
            spec: { ports: [{ port: 80 }] },
          },
        ],
      ] as const;
      for (const [p, body] of plain) {
        const r = await apiCall(cluster, 'POST', p, body);
        t.equal(r.status, 201, `${body.kind} stored`);
      }
      const after = metricSum(await metrics(), REQ);
      t.equal(after, before, 'the webhook answered no review for them');
      // the same counter moves for a runner config, so the assertion above can fail
      const cm = withNs(seed('configmap-template.yaml'), NS, 'counted');
      t.equal((await apiCall(cluster, 'POST', cmPath(NS), cm)).status, 201);
      t.ok(metricSum(await metrics(), REQ) > after, 'a runner ConfigMap is counted');
    });

    await t.test('pod mode: a bare Pod gets the registration initContainer', async (t) => {
      // `helm upgrade --set webhook.podMode=true`: only the webhook configurations change; keep
      // the caBundle the running webhook patched in
      const adm = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      const bundle = (await adm.readMutatingWebhookConfiguration({ name: inst.mutating }))
        .webhooks?.[0]?.clientConfig.caBundle;
      const configs = (set: string[]) => {
        const objs = helmTemplate(cluster, inst.release, inst.namespace, set).filter((o) =>
          /WebhookConfiguration$/.test(o.kind!),
        );
        for (const o of objs) for (const w of (o as any).webhooks) w.clientConfig.caBundle = bundle;
        return objs;
      };
      await applyAll(cluster.kubeConfig, configs(['webhook.podMode=true']));
      t.teardown(() => applyAll(cluster.kubeConfig, configs([])));
      const tmpl = seed('deployment-run.yaml').spec.template;
      const podBody = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'runner-pod',
          labels: tmpl.metadata.labels,
          annotations: { 'gitlab-runner-admission/token-secret': 'gitlab-runner-tokens' },
        },
        spec: tmpl.spec,
      };
      let r;
      // the apiserver's webhook informer needs a moment to see the new rules
      for (let i = 0; i < 50; i++) {
        r = await apiCall(cluster, 'POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, podBody);
        if (r.status === 201 && registerRunners(r.json) === 1) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      r = await apiCall(cluster, 'POST', `/api/v1/namespaces/${NS}/pods`, podBody);
      t.equal(r.status, 201, r.text.slice(0, 300));
      t.equal(registerRunners(r.json), 1, 'the stored Pod has exactly one register-runner');
    });

    await t.test("the apiserver's view of our latency", async (t) => {
      const text = (await apiCall(cluster, 'GET', '/metrics')).text;
      const buckets = new Map<number, number>();

      for (const line of text.split('\n')) {
        const m =
          /^apiserver_admission_webhook_admission_duration_seconds_bucket\{(.*)\} (\S+)$/.exec(
            line,
          );
        if (!m || !/name="[^"]*gitlab-runner-admission\.io"/.test(m[1]!)) continue;
        const le = /le="([^"]+)"/.exec(m[1]!)![1]!;
        const k = le === '+Inf' ? Infinity : Number(le);
        buckets.set(k, (buckets.get(k) ?? 0) + Number(m[2]));
      }
      const count = buckets.get(Infinity) ?? 0;
      t.ok(count > 10, `the apiserver timed ${count} calls to our webhooks`);
      const p50 = quantile(buckets, 0.5);
      const p99 = quantile(buckets, 0.99);
      t.ok(p50 > 0 && p99 >= p50, 'quantiles computed');
      t.comment(
        `apiserver_admission_webhook_admission_duration_seconds, our webhooks, ${count} calls: p50 ${(p50 * 1000).toFixed(1)} ms, p99 ${(p99 * 1000).toFixed(1)} ms`,
      );
    });

    await t.test('failure policy with the webhook stopped', async (t) => {
      await wh.stop('SIGKILL');
      const cm = withNs(seed('configmap-template.yaml'), NS, 'while-down');
      const r = await apiCall(cluster, 'POST', cmPath(NS), cm);
      t.equal(r.status, 500, 'validating (failurePolicy Fail) blocks');
      t.match(
        r.json?.message,
        /failed calling webhook "validate\.gitlab-runner-admission\.io"/,
        "the apiserver's own message",
      );
      t.comment(`apiserver said: ${r.json?.message}`);
      const failOpenBefore = metricSum(
        (await apiCall(cluster, 'GET', '/metrics')).text,
        'apiserver_admission_webhook_fail_open_count',
        { name: 'mutate.gitlab-runner-admission.io' },
      );
      const dep = withNs(seed('deployment-run.yaml'), NS, 'while-down');
      const d = await apiCall(cluster, 'POST', deployPath(NS), dep);
      // the mutating webhook runs first; Ignore lets the request go on to the validating one
      t.match(
        d.json?.message,
        /failed calling webhook "validate\.gitlab-runner-admission\.io"/,
        'blocked by the validating webhook, not the mutating one',
      );
      const ev = readFileSync(cluster.auditLogPath!, 'utf8')
        .split('\n')
        .filter(
          (l) =>
            l.includes('"while-down"') &&
            l.includes('"deployments"') &&
            l.includes('ResponseComplete'),
        )
        .map((l) => JSON.parse(l))[0];
      t.ok(
        Object.keys(ev?.annotations ?? {}).some((k) =>
          k.startsWith('failed-open.mutation.webhook.admission.k8s.io/'),
        ),
        'the apiserver recorded that the mutating webhook failed open',
      );
      const failOpenAfter = metricSum(
        (await apiCall(cluster, 'GET', '/metrics')).text,
        'apiserver_admission_webhook_fail_open_count',
        { name: 'mutate.gitlab-runner-admission.io' },
      );
      t.equal(
        failOpenAfter,
        failOpenBefore + 1,
        'the mutating webhook (failurePolicy Ignore) failed open',
      );
      // and a restart brings writes back (reusing the Secret the first one wrote)
      wh = await startWebhook(pod.env);
      const again = await apiCall(cluster, 'POST', cmPath(NS), cm);
      t.equal(again.status, 201, again.text.slice(0, 300));
    });

    await t.test('nothing left in the cluster points outside 127.0.0.0/8', async (t) => {
      const adm = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      const hooks = [
        ...(await adm.listValidatingWebhookConfiguration()).items,
        ...(await adm.listMutatingWebhookConfiguration()).items,
      ].flatMap((c) => c.webhooks ?? []);
      for (const w of hooks) {
        if (w.clientConfig.url)
          t.match(new URL(w.clientConfig.url).hostname, /^127\./, `${w.name} url`);
        if (w.clientConfig.service) {
          const s = await core.readNamespacedService({
            name: w.clientConfig.service.name,
            namespace: w.clientConfig.service.namespace,
          });
          t.match(s.spec?.clusterIP, /^127\./, `${w.name} Service ClusterIP`);
        }
      }
    });
  },
);
