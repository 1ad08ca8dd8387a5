/**
 * The chart installed for real on a test cluster (test/helpers/cluster.ts), and the built webhook
 * run the way the chart's pod runs it: the chart's env, a kubeconfig holding a TokenRequest token
 * of the chart's ServiceAccount (so RBAC is exactly the chart's), listening on the Service's
 * ClusterIP:443. ClusterIPs come from 127.200.0.0/16, so the apiserver dials loopback only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { freePort, watchdog, type Cluster } from './cluster.js';
import { repoRoot } from './fixtures.js';
import { MALLOC_ENV, NODE_FLAGS } from '../../src/server/runtime.js';

export const CHART = path.join(repoRoot, 'charts/gitlab-runner-admission');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

/**
 * dist/cli/main.js as `npm run build` makes it, compiled into node_modules/.cache (keyed by the
 * sources' content) so parallel test files share one build and dist/ stays the user's.
 */
export function builtMain(): string {
  const h = createHash('sha256');
  for (const f of [
    ...walk(path.join(repoRoot, 'src')),
    path.join(repoRoot, 'tsconfig.json'),
    path.join(repoRoot, 'tsconfig.build.json'),
  ].sort()) {
    h.update(f).update(readFileSync(f));
  }
  const base = path.join(repoRoot, 'node_modules/.cache/gra-cluster-build');
  const out = path.join(base, h.digest('hex').slice(0, 16));
  const main = path.join(out, 'cli/main.js');
  if (existsSync(main)) return main;
  mkdirSync(base, { recursive: true });
  const lock = `${out}.lock`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(main)) return main;
      // a lock older than 3 minutes belongs to a build that died
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 180_000)
        rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${lock}`);
      spawnSync('sleep', ['0.5']);
    }
  }
  try {
    if (!existsSync(main)) {
      const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
      const r = spawnSync(
        process.execPath,
        [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--outDir', out],
        { encoding: 'utf8', cwd: repoRoot },
      );
      if (r.status !== 0 || !existsSync(main))
        throw new Error(`build failed: ${r.stdout}${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return main;
}

/** `${assets}/helm template` of the chart; --set values as given. */
export function helmTemplate(
  cluster: Cluster,
  release: string,
  namespace: string,
  set: string[] = [],
): KubernetesObject[] {
  const args = ['template', release, CHART, '-n', namespace, ...set.flatMap((s) => ['--set', s])];
  const r = spawnSync(path.join(cluster.assets, 'helm'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o != null && typeof o === 'object' && !!o.kind);
}

/** `kubectl apply --server-side`, through client-node: create or update every object. */
export async function applyAll(
  kc: KubeConfig,
  objects: KubernetesObject[],
  fieldManager = 'gra-test',
): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const o of objects) {
    await api.patch(o, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
  }
}

export interface Install {
  release: string;
  namespace: string;
  service: string;
  clusterIP: string;
  serviceAccount: string;
  validating: string;
  mutating: string;
  /** the Deployment's container env, name → value */
  env: Record<string, string>;
  objects: KubernetesObject[];
}

export async function installChart(
  cluster: Cluster,
  opts: { release?: string; namespace?: string; set?: string[] } = {},
): Promise<Install> {
  const release = opts.release ?? 'gra';
  const namespace = opts.namespace ?? 'gra-system';
  const kc = cluster.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const objects = helmTemplate(cluster, release, namespace, opts.set);
  await applyAll(kc, objects);
  const find = (kind: string) => objects.find((o) => o.kind === kind);
  const svc = find('Service')!;
  const live = await core.readNamespacedService({ name: svc.metadata!.name!, namespace });
  const clusterIP = live.spec?.clusterIP ?? '';
  if (!/^127\./.test(clusterIP))
    throw new Error(`Service ClusterIP ${clusterIP} is not loopback: refusing to go on`);
  const dep = find('Deployment') as unknown as {
    spec: {
      template: {
        spec: {
          serviceAccountName: string;
          containers: Array<{ env?: Array<{ name: string; value?: string }> }>;
        };
      };
    };
  };
  const env: Record<string, string> = {};
  for (const e of dep.spec.template.spec.containers[0]?.env ?? [])
    if (e.value !== undefined) env[e.name] = e.value;
  return {
    release,
    namespace,
    service: svc.metadata!.name!,
    clusterIP,
    serviceAccount: dep.spec.template.spec.serviceAccountName,
    validating: find('ValidatingWebhookConfiguration')!.metadata!.name!,
    mutating: find('MutatingWebhookConfiguration')!.metadata!.name!,
    env,
    objects,
  };
}

/** A kubeconfig file whose user is a TokenRequest token of the ServiceAccount: exactly its RBAC. */
export async function serviceAccountKubeconfig(
  cluster: Cluster,
  namespace: string,
  sa: string,
  file: string,
): Promise<KubeConfig> {
  const auth = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const tr = await auth.createNamespacedServiceAccountToken({
    name: sa,
    namespace,
    body: { spec: { expirationSeconds: 3600, audiences: ['https://kubernetes.default.svc'] } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: local, cluster: {server: "${cluster.server}", certificate-authority: "${cluster.caFile}"}}]`,
      `users: [{name: ${sa}, user: {token: "${token}"}}]`,
      'contexts: [{name: local, context: {cluster: local, user: ' +
        sa +
        ', namespace: ' +
        namespace +
        '}}]',
      'current-context: local',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

export interface WebhookProcess {
  child: ChildProcess;
  /** https://host:port */
  url: string;
  metricsUrl?: string;
  logs(): string;
  /** SIGTERM (or the given signal), wait for exit */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const procs = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of procs) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** node <built>/cli/main.js serve with exactly this env (plus PATH/HOME), waiting for /healthz. */
export async function startWebhook(
  env: Record<string, string>,
  opts: { waitReady?: boolean; cwd?: string } = {},
): Promise<WebhookProcess> {
  const main = builtMain();
  const host = env.GRA_HOST ?? '127.0.0.1';
  const port = env.GRA_PORT ?? '8443';
  // the image's V8 flags and malloc settings (src/server/runtime.ts), as the chart's pod has them
  const child = spawn(process.execPath, [...NODE_FLAGS, main, 'serve'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...MALLOC_ENV, ...env },
    cwd: opts.cwd ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.add(child);
  // a test process killed by a signal runs no 'exit' hook: this one still stops the webhook
  const cancelWatchdog = child.pid ? watchdog([child.pid]) : () => undefined;
  child.once('exit', cancelWatchdog);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => procs.delete(child));
  const url = `https://${host}:${port}`;
  const deadline = Date.now() + 60_000;
  const path_ = opts.waitReady === false ? '/healthz' : '/readyz';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`webhook exited with ${child.exitCode}:\n${out}`);
    const st = await probe(`${url}${path_}`);
    if (st === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`webhook not ${path_} after 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const metricsUrl =
    env.GRA_METRICS_PORT && env.GRA_METRICS_PORT !== '0'
      ? `http://${host}:${env.GRA_METRICS_PORT}/metrics`
      : undefined;
  return {
    child,
    url,
    ...(metricsUrl ? { metricsUrl } : {}),
    logs: () => out,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** HTTP status of a GET that trusts any certificate (like kubelet's HTTPS probes), 0 on error. */
export function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/** The env the chart's pod gets, adjusted for a process on this machine. */
export async function chartEnv(
  cluster: Cluster,
  inst: Install,
  extra: Record<string, string> = {},
): Promise<{ env: Record<string, string>; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-pod-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  await serviceAccountKubeconfig(cluster, inst.namespace, inst.serviceAccount, kubeconfig);
  mkdirSync(path.join(dir, 'tls'));
  return {
    dir,
    env: {
      ...inst.env,
      // the pod listens on its IP:8443 behind the Service's 443; with no kube-proxy here the
      // process takes the ClusterIP itself
      GRA_HOST: inst.clusterIP,
      GRA_PORT: '443',
      GRA_METRICS_PORT: String(await freePort()),
      GRA_CERT_DIR: path.join(dir, 'tls'),
      KUBECONFIG: kubeconfig,
      ...extra,
    },
  };
}

/** A raw API call with the admin's credentials: status, headers (Warning lines) and body. */
export async function apiCall(
  cluster: Cluster,
  method: string,
  p: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; warnings: string[]; json: any; text: string }> {
  const opts: https.RequestOptions = {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
  };
  await cluster.kubeConfig.applyToHTTPSOptions(opts);
  const u = new URL(cluster.server + p);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { ...opts, hostname: u.hostname, port: u.port, path: u.pathname + u.search },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const w = res.headers.warning;
          const warnings = (Array.isArray(w) ? w : w ? [w] : []).flatMap((x) => splitWarnings(x));
          resolve({ status: res.statusCode ?? 0, warnings, json, text });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

/** RFC 7234 Warning values `299 - "text"`, possibly several comma-joined in one header. */
function splitWarnings(h: string): string[] {
  const out: string[] = [];
  const re = /\d{3} \S+ "((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(h); m; m = re.exec(h)) out.push(m[1]!.replace(/\\(.)/g, '$1'));
  return out;
}

/** GET a Prometheus text endpoint (http or https with the admin's credentials). */
export async function scrape(url: string): Promise<string> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    })
      .on('error', reject)
      .end();
  });
}

/** Sum of a counter's samples whose labels include all of `match`. */
export function metricSum(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries(
      [...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[4]);
  }
  return sum;
}
