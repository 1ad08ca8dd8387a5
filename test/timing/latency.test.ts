import t from 'tap';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { SKIP_CLUSTER, startCluster } from '../helpers/cluster.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 14, latency through the real client: one real kube-apiserver, and side by side in one run
 * (interleaved, so each path sees the same machine) dry-run creates of a runner ConfigMap in four
 * namespaces: no admission at all, a bare Node `https` echo registered as a webhook, this webhook
 * with the chart's three CEL matchConditions, and the equivalent regex ValidatingAdmissionPolicy.
 * Plus an unrelated ConfigMap in the webhook's namespace (the matchConditions keep it off the
 * wire). Keep-alive client, p50/p99 printed for docs/operations.md; no timed assertions.
 * Every webhook configuration points at https://127.0.0.1:<port> only.
 */

const N = Number(process.env.LATENCY_N || 300);
const WARMUP = 50;

t.test(
  'real-client latency: none vs echo vs this webhook vs ValidatingAdmissionPolicy',
  { skip: SKIP_CLUSTER, timeout: 600_000 },
  async (t) => {
    const cluster = await startCluster({ name: 'latency' });
    t.teardown(() => cluster.stop());
    // one info line per review, as in production, written to a file as a container runtime
    // would keep it: on this process's stdout tap would parse every line, on the same CPUs
    const logFile = path.join(cluster.dir, 'webhook.log');
    const wh = await startTestServer({ GRA_LOG_LEVEL: 'info' }, { logFile });
    t.teardown(() => wh.close());
    const certDir = wh.settings.certDir;

    // the bare echo: TLS, read the body, answer allowed for its uid
    let echoed = 0;
    const echo = https.createServer(
      {
        key: readFileSync(path.join(certDir, 'tls.key')),
        cert: readFileSync(path.join(certDir, 'tls.crt')),
        keepAliveTimeout: 120_000,
      },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          echoed++;
          const uid = (JSON.parse(Buffer.concat(chunks).toString()) as { request: { uid: string } })
            .request.uid;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid, allowed: true },
            }),
          );
        });
      },
    );
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => echo.close(() => r())));
    const echoPort = (echo.address() as { port: number }).port;
    const whPort = Number(new URL(wh.url).port);

    // a keep-alive client with the admin's credentials
    const user = cluster.kubeConfig.getCurrentUser()!;
    const opts: https.AgentOptions = {
      keepAlive: true,
      maxSockets: 1,
      ca: readFileSync(cluster.caFile),
    };
    if (user.certFile) opts.cert = readFileSync(user.certFile);
    if (user.keyFile) opts.key = readFileSync(user.keyFile);
    if (user.certData) opts.cert = Buffer.from(user.certData, 'base64');
    if (user.keyData) opts.key = Buffer.from(user.keyData, 'base64');
    const agent = new https.Agent(opts);
    t.teardown(() => agent.destroy());
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (user.token) headers.authorization = `Bearer ${user.token}`;
    const api = (
      method: string,
      p: string,
      body?: unknown,
    ): Promise<{ status: number; json: any; ms: number }> =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = https.request(cluster.server + p, { method, agent, headers }, (res) => {
          let d = '';
          res.on('data', (c: Buffer) => (d += c));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(d);
            } catch {
              json = d;
            }
            resolve({ status: res.statusCode ?? 0, json, ms: performance.now() - t0 });
          });
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });

    const PATHS = ['none', 'echo', 'webhook', 'vap', 'echo-cel', 'webhook-nocel'] as const;
    for (const p of PATHS) {
      const r = await api('POST', '/api/v1/namespaces', {
        metadata: { name: `lat-${p}`, labels: { lat: p } },
      });
      t.equal(r.status, 201, `namespace lat-${p}`);
    }
    const caBundle = Buffer.from(wh.ca).toString('base64');
    const cel = (n: string) =>
      fs
        .readFileSync(path.join(repoRoot, 'charts/gitlab-runner-admission/cel', `${n}.cel`), 'utf8')
        .trim();
    const hook = (
      name: string,
      port: number,
      ns: string,
      matchConditions?: { name: string; expression: string }[],
    ) => ({
      name: `${name}.latency.gra.test`,
      clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle },
      rules: [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE', 'UPDATE'],
          resources: ['configmaps', 'secrets'],
        },
      ],
      namespaceSelector: { matchLabels: { lat: ns } },
      ...(matchConditions ? { matchConditions } : {}),
      failurePolicy: 'Fail',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 5,
    });
    const conditions = ['configmap', 'secret', 'workload'].map((n) => ({
      name: `runner-${n}`,
      expression: cel(n),
    }));
    let r = await api(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      {
        metadata: { name: 'latency' },
        webhooks: [
          hook('echo', echoPort, 'echo'),
          hook('gra', whPort, 'webhook', conditions),
          // the two halves of the difference: the apiserver's cost of the conditions (the echo
          // behind them) and the webhook's own (this webhook without them)
          hook('echo-cel', echoPort, 'echo-cel', conditions),
          hook('gra-nocel', whPort, 'webhook-nocel'),
        ],
      },
    );
    t.equal(r.status, 201, 'webhook configuration (loopback URLs only)');
    // the regex policy: deny a config.toml whose runner token is a registration token
    r = await api('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      metadata: { name: 'latency-regex' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['configmaps'],
            },
          ],
        },
        validations: [
          {
            expression:
              "!has(object.data) || !object.data.exists(k, k.endsWith('.toml') && object.data[k].matches('(?m)^\\\\s*token\\\\s*=\\\\s*\"GR1348941'))",
            message: 'a [[runners]] token is a registration token (GR1348941…)',
          },
        ],
      },
    });
    t.equal(r.status, 201, 'ValidatingAdmissionPolicy');
    r = await api(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
      {
        metadata: { name: 'latency-regex' },
        spec: {
          policyName: 'latency-regex',
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { lat: 'vap' } } },
        },
      },
    );
    t.equal(r.status, 201, 'binding');

    const runnerCm = (i: number) => ({
      metadata: { name: `runner-${i}` },
      data: {
        'config.toml': `concurrent = 1\n[[runners]]\n  name = "r"\n  url = "https://gitlab.example.com"\n  token = "glrt-abcdefghijklmnopqrst"\n  executor = "kubernetes"\n`,
      },
    });
    const badCm = {
      metadata: { name: 'bad' },
      data: {
        'config.toml':
          '[[runners]]\n  url = "https://gitlab.example.com"\n  token = "GR1348941abcdefghijklmnopqrst"\n',
      },
    };
    const unrelatedCm = (i: number) => ({
      metadata: { name: `nginx-${i}` },
      data: { 'nginx.conf': 'worker_processes auto;\n' },
    });
    const create = (ns: string, body: unknown) =>
      api('POST', `/api/v1/namespaces/${ns}/configmaps?dryRun=All`, body);

    // wait until each configuration is in effect (the apiserver picks them up asynchronously)
    for (let i = 0; i < 100; i++) {
      const [w, v] = await Promise.all([create('lat-webhook', badCm), create('lat-vap', badCm)]);
      await create('lat-echo', runnerCm(0));
      // a webhook's denial is 403 here; a policy's is 422 Invalid
      if (w.status === 403 && v.status === 422 && echoed > 0) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    t.equal((await create('lat-webhook', badCm)).status, 403, 'this webhook denies the bad config');
    t.equal((await create('lat-vap', badCm)).status, 422, 'the policy denies it');
    t.ok(echoed > 0, 'the echo is called');

    const cases = [
      ...PATHS.map((p) => ({ what: p, ns: `lat-${p}`, body: runnerCm })),
      { what: 'webhook, unrelated ConfigMap', ns: 'lat-webhook', body: unrelatedCm },
    ];
    const lat = new Map<string, number[]>(cases.map((c) => [c.what, []]));
    for (let i = 0; i < WARMUP + N; i++) {
      for (const c of cases) {
        const res = await create(c.ns, c.body(i));
        if (res.status !== 201)
          throw new Error(
            `${c.what}: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`,
          );
        if (i >= WARMUP) lat.get(c.what)!.push(res.ms);
      }
    }
    const q = (xs: number[], p: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
    const none50 = q(lat.get('none')!, 0.5);
    const echo50 = q(lat.get('echo')!, 0.5);
    t.comment(
      `dry-run creates, ${N} each after ${WARMUP} warm-up, interleaved; keep-alive client; kube-apiserver ${cluster.server}; load average ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    for (const c of cases) {
      const xs = lat.get(c.what)!;
      const p50 = q(xs, 0.5);
      t.comment(
        `${c.what.padEnd(30)} p50 ${p50.toFixed(2)} ms  p99 ${q(xs, 0.99).toFixed(2)} ms  added over none ${(p50 - none50).toFixed(2)} ms` +
          (c.what === 'webhook' || c.what === 'webhook-nocel'
            ? `  (${((p50 - none50) / Math.max(0.01, echo50 - none50)).toFixed(2)}× the echo's added time)`
            : ''),
      );
    }
    // the webhook logged its reviews all along (the line is part of what was measured)
    let logged = 0;
    for (let i = 0; i < 50 && logged < N; i++) {
      logged = fs
        .readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"admission review"')).length;
      if (logged < N) await new Promise((res) => setTimeout(res, 100));
    }
    t.ok(logged >= N, `${logged} review lines in the webhook's log`);
  },
);
