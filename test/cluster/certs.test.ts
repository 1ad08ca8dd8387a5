/**
 * selfManaged certificates with kube-apiserver as the client: two replicas starting at once, a
 * restart that reuses the Secret, and renewal plus CA rotation (forced by short lifetimes) while
 * writes keep going through the webhook — none may fail.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { SKIP_CLUSTER, freePort, startCluster } from '../helpers/cluster.js';
import { fixturesDir, readYamlDocs, SEED_AUTH_TOKEN, SEED_REG_TOKEN } from '../helpers/fixtures.js';
import {
  apiCall,
  chartEnv,
  installChart,
  metricSum,
  scrape,
  startWebhook,
  type WebhookProcess,
} from '../helpers/webhook-process.js';
import { splitPemCerts } from '../../src/certs/validate.js';

const NS = 'gitlab-runner';
// one cluster, three phases; the rotation phase alone waits ~40 s of certificate lifetime
t.setTimeout(400_000);
const t0 = Date.now();
const stamp = (t: { comment(s: string): void }, what: string) =>
  t.comment(`${what} at +${((Date.now() - t0) / 1000).toFixed(1)} s`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function servedFingerprint(host: string, port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, servername, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

function events(logs: string, event: string): any[] {
  return logs
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return {};
      }
    })
    .filter((e) => e.event === event);
}

t.test(
  'selfManaged certificates against a real kube-apiserver',
  { skip: SKIP_CLUSTER, timeout: 300_000 },
  async (t) => {
    const cluster = await startCluster({ name: 'certs' });
    t.teardown(() => cluster.stop());
    stamp(t, 'cluster up');
    const inst = await installChart(cluster);
    stamp(t, 'chart applied');
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const adm = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const secretName = `${inst.service}-tls`;
    const servername = `${inst.service}.${inst.namespace}.svc`;
    const readSecret = () =>
      core.readNamespacedSecret({ name: secretName, namespace: inst.namespace });
    const secretLeafFp = (s: { data?: Record<string, string> }) =>
      new X509Certificate(splitPemCerts(Buffer.from(s.data!['tls.crt']!, 'base64').toString())[0]!)
        .fingerprint256;
    await apiCall(cluster, 'POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS },
    });

    const running: WebhookProcess[] = [];
    t.teardown(async () => {
      for (const w of running) await w.stop('SIGKILL');
    });
    const start = async (env: Record<string, string>) => {
      const w = await startWebhook(env);
      running.push(w);
      return w;
    };
    const podA = await chartEnv(cluster, inst);
    const podB = await chartEnv(cluster, inst, {
      GRA_HOST: '127.0.0.1',
      GRA_PORT: String(await freePort()),
    });
    t.teardown(() =>
      Promise.all([
        rm(podA.dir, { recursive: true, force: true }),
        rm(podB.dir, { recursive: true, force: true }),
      ]),
    );

    await t.test(
      'two replicas starting at once agree on one Secret and do not fight',
      async (t) => {
        const [a, b] = await Promise.all([start(podA.env), start(podB.env)]);
        stamp(t, 'both replicas ready');
        const s1 = await readSecret();
        const created = [
          ...events(a.logs(), 'tls-secret-written'),
          ...events(b.logs(), 'tls-secret-written'),
        ];
        t.equal(created.length, 1, 'exactly one replica created the Secret');
        t.match(created[0]?.reason, /created/);
        const fpA = await servedFingerprint(inst.clusterIP, 443, servername);
        const fpB = await servedFingerprint('127.0.0.1', Number(podB.env.GRA_PORT), servername);
        t.equal(fpA, secretLeafFp(s1), 'replica A serves the Secret’s cert');
        t.equal(fpB, fpA, 'replica B serves the same cert');
        // a few recheck rounds (GRA_TLS_RECHECK_SECONDS is 300 by default, so force them by restart below)
        await sleep(1500);
        const s2 = await readSecret();
        t.equal(
          s2.metadata?.resourceVersion,
          s1.metadata?.resourceVersion,
          'nobody rewrote the Secret',
        );
        const ok = await apiCall(
          cluster,
          'POST',
          `/api/v1/namespaces/${NS}/configmaps?dryRun=All`,
          seedGlrt('two-replicas'),
        );
        t.equal(ok.status, 201, 'the apiserver trusts the result');
        await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')]);
      },
    );

    await t.test('a restarted replica reuses the Secret', async (t) => {
      const before = await readSecret();
      const a = await start(podA.env);
      const after = await readSecret();
      t.equal(
        after.metadata?.resourceVersion,
        before.metadata?.resourceVersion,
        'the Secret was not rewritten',
      );
      t.same(events(a.logs(), 'tls-secret-written'), [], 'no write logged');
      t.equal(
        await servedFingerprint(inst.clusterIP, 443, servername),
        secretLeafFp(after),
        'it serves the stored cert',
      );
      await a.stop('SIGKILL');
    });

    await t.test('renewal and CA rotation while writes keep going: 0 failed writes', async (t) => {
      // start over with short lifetimes: CA 60 s (rotation at ~38 s), serving 30 s (renewal at ~19 s)
      await core.deleteNamespacedSecret({ name: secretName, namespace: inst.namespace });
      const short = {
        ...podA.env,
        GRA_TLS_CA_VALIDITY_SECONDS: '60',
        GRA_TLS_SERVING_VALIDITY_SECONDS: '30',
        GRA_TLS_RECHECK_SECONDS: '1',
      };
      const a = await start(short);
      stamp(t, 'short-lived replica ready');
      const firstCa = Buffer.from((await readSecret()).data!['ca.crt']!, 'base64').toString();
      const bundles = new Set<string>();
      let ok = 0;
      const failures: string[] = [];
      let i = 0;
      const deadline = Date.now() + 100_000;
      const done = () => {
        const reasons = events(a.logs(), 'tls-secret-written').map((e) => String(e.reason));
        const rot = reasons.findIndex((r) => /CA rotation/.test(r));
        return (
          rot >= 0 && reasons.some((r) => /renewal/.test(r)) && reasons.slice(rot + 1).length > 0
        );
      };
      while (!done() && Date.now() < deadline) {
        i++;
        const r = await apiCall(
          cluster,
          'POST',
          `/api/v1/namespaces/${NS}/configmaps`,
          seedGlrt(`loop-${i}`),
        );
        if (r.status === 201) ok++;
        else failures.push(`${r.status} ${r.json?.message ?? r.text.slice(0, 200)}`);
        if (i % 20 === 0) {
          const v = await adm.readValidatingWebhookConfiguration({ name: inst.validating });
          bundles.add(v.webhooks?.[0]?.clientConfig.caBundle ?? '');
        }
        await sleep(50);
      }
      const reasons = events(a.logs(), 'tls-secret-written').map((e) => String(e.reason));
      t.comment(`${ok} writes through the webhook; Secret writes: ${reasons.join(' | ')}`);
      t.ok(done(), 'saw a serving-cert renewal, a CA rotation and a write after it');
      t.same(failures.slice(0, 5), [], '0 failed writes');
      t.equal(failures.length, 0);
      t.ok(ok > 100, `${ok} writes went through`);
      const nowCa = Buffer.from((await readSecret()).data!['ca.crt']!, 'base64').toString();
      t.not(nowCa, firstCa, 'the CA was rotated');
      t.ok(
        bundles.size >= 2,
        `the apiserver's caBundle changed along (${bundles.size} distinct values seen)`,
      );
      const reloads = metricSum(
        await scrape(a.metricsUrl!),
        'gitlab_runner_admission_cert_reloads_total',
      );
      t.ok(reloads >= 2, `the server reloaded its cert ${reloads} times`);
      await a.stop('SIGKILL');
    });
  },
);

function seedGlrt(name: string): any {
  const cm = readYamlDocs(path.join(fixturesDir, 'seed', 'configmap-registration-token.yaml'))[0];
  cm.metadata = { name, namespace: NS };
  cm.data['config.toml'] = cm.data['config.toml'].replace(SEED_REG_TOKEN, SEED_AUTH_TOKEN);
  return cm;
}
