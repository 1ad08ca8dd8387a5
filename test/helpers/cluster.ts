/**
 * A real control plane for tests, envtest-style: etcd + kube-apiserver from $KUBEBUILDER_ASSETS
 * (the layout controller-runtime's envtest and `setup-envtest use 1.32 -p path` produce), on free
 * loopback ports, with its own PKI in a temp dir.
 *
 * Why these flags (see also the shared k8s README):
 * - ConsistentListFromCache=false: Debian's etcd is 3.4; consistent reads from cache need 3.5.
 * - service CIDR 127.200.0.0/16: the apiserver dials a webhook Service's ClusterIP itself, and only
 *   loopback may ever be dialled here; with a loopback range the chart's Service is reachable.
 * - endpoint reconciler none: never publish an address for the `kubernetes` Service.
 * - RBAC + service-account keys/issuer: TokenRequest tokens carry exactly a ServiceAccount's RBAC.
 * - ServiceAccount admission off (as envtest does): there is no controller-manager to create
 *   `default` ServiceAccounts, and Pods would otherwise be refused.
 *
 * Processes are stopped by pid in stop(), on process exit, on SIGINT/SIGTERM/SIGHUP, and by a
 * watchdog shell that outlives a SIGKILLed test process by at most a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import forge from 'node-forge';

/** $KUBEBUILDER_ASSETS when it holds kube-apiserver and etcd, else undefined. */
export function clusterAssets(): string | undefined {
  const dir = process.env.KUBEBUILDER_ASSETS;
  if (!dir) return undefined;
  const abs = path.resolve(dir);
  return existsSync(path.join(abs, 'kube-apiserver')) && existsSync(path.join(abs, 'etcd'))
    ? abs
    : undefined;
}

export const SKIP_CLUSTER: string | false = clusterAssets()
  ? false
  : process.env.KUBEBUILDER_ASSETS
    ? `KUBEBUILDER_ASSETS=${process.env.KUBEBUILDER_ASSETS} holds no kube-apiserver + etcd: cluster tests skipped`
    : 'KUBEBUILDER_ASSETS is unset: cluster tests (real kube-apiserver) skipped; ' +
      'run `export KUBEBUILDER_ASSETS=$(../shared/k8s/assets.sh /tmp/k8s-assets)` or use `setup-envtest use 1.32 -p path`';

export interface Cluster {
  /** https://127.0.0.1:<port> */
  server: string;
  caFile: string;
  /** temp dir holding pki/, etcd data, logs and the kubeconfig; removed by stop() */
  dir: string;
  /** admin (system:masters) kubeconfig file */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** the KUBEBUILDER_ASSETS dir (helm at `${assets}/helm` when laid out by assets.sh) */
  assets: string;
  /** the apiserver's audit log (JSON lines) when started with `audit: true` */
  auditLogPath?: string | undefined;
  /** the CA's key, PEM: sign more client certs if a test needs them */
  caKeyFile: string;
  /** kills etcd + apiserver by pid, removes dir; idempotent */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** shows up in the temp dir name, to tell clusters apart in logs */
  name?: string;
  /** record admission annotations (Metadata level) to `${dir}/audit.log` */
  audit?: boolean;
  /** extra kube-apiserver flags (`--flag=value`) */
  apiserverArgs?: string[];
}

/** A port the kernel just handed out on 127.0.0.1; another process could take it before we bind. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface Pair {
  certPem: string;
  keyPem: string;
}

function rsaKeys(): {
  pub: forge.pki.PublicKey;
  priv: forge.pki.rsa.PrivateKey;
  keyPem: string;
  pubPem: string;
} {
  // Node's keygen is native (forge's pure-JS RSA takes seconds per key on a busy 2-core box).
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    pub: forge.pki.publicKeyFromPem(publicKey),
    priv: forge.pki.privateKeyFromPem(privateKey),
    keyPem: privateKey,
    pubPem: publicKey,
  };
}

function issue(
  subject: forge.pki.CertificateField[],
  signer: { cert?: forge.pki.Certificate; key?: forge.pki.rsa.PrivateKey },
  extensions: object[],
): Pair & { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const k = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.pub;
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + 24 * 3600_000);
  cert.setSubject(subject);
  cert.setIssuer(signer.cert ? signer.cert.subject.attributes : subject);
  cert.setExtensions(extensions);
  cert.sign(signer.key ?? k.priv, forge.md.sha256.create());
  return { cert, key: k.priv, certPem: forge.pki.certificateToPem(cert), keyPem: k.keyPem };
}

function writePki(pki: string): void {
  // Names use PrintableString characters only: Go's crypto/x509 refuses anything else there.
  const ca = issue([{ name: 'commonName', value: 'gra-test-ca' }], {}, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const serving = issue([{ name: 'commonName', value: 'kube-apiserver' }], ca, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 2, value: 'kubernetes.default.svc' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '127.200.0.1' },
      ],
    },
  ]);
  const admin = issue(
    [
      { name: 'organizationName', value: 'system:masters' },
      { name: 'commonName', value: 'admin' },
    ],
    ca,
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  );
  const sa = rsaKeys();
  const w = (f: string, s: string) => writeFileSync(path.join(pki, f), s, { mode: 0o600 });
  w('ca.crt', ca.certPem);
  w('ca.key', forge.pki.privateKeyToPem(ca.key));
  w('apiserver.crt', serving.certPem);
  w('apiserver.key', serving.keyPem);
  w('admin.crt', admin.certPem);
  w('admin.key', admin.keyPem);
  w('sa.key', sa.keyPem);
  w('sa.pub', sa.pubPem);
}

// Every live cluster's pids, so an exiting process can still kill them synchronously.
const live = new Map<string, { pids: number[]; dir: string }>();
let hooked = false;

function killNow(entry: { pids: number[]; dir: string }): void {
  for (const pid of entry.pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    rmSync(entry.dir, { recursive: true, force: true });
  } catch {
    // best effort at exit
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const e of live.values()) killNow(e);
    live.clear();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSig = () => {
      for (const e of live.values()) killNow(e);
      live.clear();
      process.removeListener(sig, onSig);
      // Re-raise so the default (or tap's own) handling still ends the process.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSig);
  }
}

/**
 * A detached shell that SIGKILLs `pids` (and removes `dir`) once this process is gone, however
 * it died; the returned function calls it off. For anything a test starts that must not outlive it.
 */
export function watchdog(pids: number[], dir?: string): () => void {
  const rm = dir ? `; rm -rf '${dir.replace(/'/g, '')}'` : '';
  const w = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pids.join(' ')} 2>/dev/null${rm}`,
    ],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  w.unref();
  return () => {
    try {
      if (w.pid !== undefined) process.kill(w.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
}

function readyz(server: string, pki: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      `${server}/readyz`,
      {
        ca: readFileSync(path.join(pki, 'ca.crt')),
        cert: readFileSync(path.join(pki, 'admin.crt')),
        key: readFileSync(path.join(pki, 'admin.key')),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }, 10_000);
  await exited(child);
  clearTimeout(timer);
}

export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io}, {group: '', resources: [events]}]
  - level: None
    nonResourceURLs: ['/readyz*', '/livez*', '/healthz*', '/metrics']
  - level: Metadata
`;

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const assets = clusterAssets();
  if (!assets) throw new Error(SKIP_CLUSTER || 'no assets');
  const tag = (opts.name ?? 'cluster').replace(/[^a-z0-9-]/gi, '-');
  const dir = mkdtempSync(path.join(os.tmpdir(), `gra-${tag}-`));
  const pki = path.join(dir, 'pki');
  mkdirSync(pki, { mode: 0o700 });
  writePki(pki);
  hookExit();
  const entry = { pids: [] as number[], dir };
  live.set(dir, entry);
  const children: ChildProcess[] = [];
  let cancelWatchdog: (() => void) | undefined;

  const stop = async (): Promise<void> => {
    if (!live.has(dir)) return;
    live.delete(dir);
    // apiserver first: it would otherwise log etcd errors while shutting down
    for (const c of [...children].reverse()) await stopChild(c);
    cancelWatchdog?.();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const log = (n: string) => openSync(path.join(dir, `${n}.log`), 'a');
    const etcdLog = log('etcd');
    const etcd = spawn(
      path.join(assets, 'etcd'),
      [
        '--data-dir',
        path.join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${peerPort}`,
      ],
      { stdio: ['ignore', etcdLog, etcdLog] },
    );
    closeSync(etcdLog);
    children.push(etcd);
    if (etcd.pid) entry.pids.push(etcd.pid);

    const extra = [...(opts.apiserverArgs ?? [])];
    let auditLogPath: string | undefined;
    if (opts.audit) {
      auditLogPath = path.join(dir, 'audit.log');
      writeFileSync(path.join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
      extra.push(
        `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-mode=blocking',
      );
    }
    const apiLog = log('kube-apiserver');
    const api = spawn(
      path.join(assets, 'kube-apiserver'),
      [
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--feature-gates=ConsistentListFromCache=false',
        `--client-ca-file=${pki}/ca.crt`,
        `--tls-cert-file=${pki}/apiserver.crt`,
        `--tls-private-key-file=${pki}/apiserver.key`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${pki}/sa.pub`,
        `--service-account-signing-key-file=${pki}/sa.key`,
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=127.200.0.0/16',
        '--endpoint-reconciler-type=none',
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        `--cert-dir=${pki}/serving`,
        ...extra,
      ],
      { stdio: ['ignore', apiLog, apiLog] },
    );
    closeSync(apiLog);
    children.push(api);
    if (api.pid) entry.pids.push(api.pid);

    // Kills both if this process dies without running any hook (SIGKILL, OOM).
    cancelWatchdog = watchdog(entry.pids, dir);

    const server = `https://127.0.0.1:${apiPort}`;
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (api.exitCode !== null || etcd.exitCode !== null) {
        const tail = (n: string) =>
          readFileSync(path.join(dir, `${n}.log`), 'utf8')
            .split('\n')
            .slice(-15)
            .join('\n');
        throw new Error(
          `control plane exited during start\n--- etcd\n${tail('etcd')}\n--- kube-apiserver\n${tail('kube-apiserver')}`,
        );
      }
      if (await readyz(server, pki)) break;
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver not ready after 90 s (logs in ${dir})`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const kubeconfigPath = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: local, cluster: {server: "${server}", certificate-authority: "${pki}/ca.crt"}}]`,
        `users: [{name: admin, user: {client-certificate: "${pki}/admin.crt", client-key: "${pki}/admin.key"}}]`,
        'contexts: [{name: local, context: {cluster: local, user: admin}}]',
        'current-context: local',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    return {
      server,
      caFile: path.join(pki, 'ca.crt'),
      caKeyFile: path.join(pki, 'ca.key'),
      dir,
      kubeconfigPath,
      kubeConfig,
      assets,
      auditLogPath,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
