/**
 * Dev mode: a local CA and a serving cert for localhost, kept in a directory and reused across
 * restarts so a developer trusts ca.crt once (curl --cacert certs/ca.crt https://localhost:8443).
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DAY_MS, generateCa, generateServingCert, type PemPair } from './generate.js';
import { dnProblem } from './names.js';
import { checkPair, errMsg } from './validate.js';

export const DEV_HOSTS = ['localhost', '127.0.0.1', '::1'];
/** Regenerate a little before expiry so a long dev session never hits it. */
const MIN_REMAINING_MS = 7 * DAY_MS;

export interface DevCerts {
  key: string;
  cert: string;
  ca: string;
  caPath: string;
  /** true when anything was (re)generated, false when the files on disk were reused */
  created: boolean;
}

async function readOpt(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Write-then-rename so a reader never sees half a PEM. */
async function writeAtomic(p: string, data: string, mode: number): Promise<void> {
  const tmp = `${p}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, p);
}

/**
 * Two dev processes (or parallel tests) sharing a dir must not interleave writes and leave a
 * tls.crt from one run next to a tls.key from another: serialize with a mkdir lock.
 */
async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.certs.lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await stat(lock).catch(() => undefined);
      // A lock older than 30 s is from a crashed process: generation takes well under a second.
      if (st && Date.now() - st.mtimeMs > 30_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lock}`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function usable(pair: PemPair | undefined, opts: { ca?: string; hosts?: string[]; now: Date }): boolean {
  if (!pair) return false;
  // certs/ from an older version: a CA name kube-apiserver cannot parse is replaced, not reused
  if (dnProblem(pair.cert)) return false;
  try {
    const info = checkPair(pair, opts);
    return info.notAfter.getTime() - opts.now.getTime() > MIN_REMAINING_MS;
  } catch {
    return false;
  }
}

export async function ensureDevCerts(dir: string, opts: { hosts?: string[]; now?: Date } = {}): Promise<DevCerts> {
  const hosts = opts.hosts ?? DEV_HOSTS;
  const now = opts.now ?? new Date();
  await mkdir(dir, { recursive: true });
  const p = (n: string): string => path.join(dir, n);
  return withDirLock(dir, async () => {
    const [caCert, caKey, cert, key] = await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key'].map((n) => readOpt(p(n))));
    const caPair = caCert && caKey ? { cert: caCert, key: caKey } : undefined;
    let ca: PemPair;
    let created = false;
    if (caPair && usable(caPair, { now })) {
      ca = caPair;
    } else {
      ca = generateCa({ commonName: `gitlab-runner-admission dev CA ${Math.floor(now.getTime() / 1000)}`, now });
      await writeAtomic(p('ca.key'), ca.key, 0o600);
      await writeAtomic(p('ca.crt'), ca.cert, 0o644);
      created = true;
    }
    let serving = cert && key ? { cert, key } : undefined;
    if (created || !usable(serving, { ca: ca.cert, hosts, now })) {
      const dnsNames = hosts.filter((h) => !/^[\d.]+$/.test(h) && !h.includes(':'));
      const ips = hosts.filter((h) => /^[\d.]+$/.test(h) || h.includes(':'));
      serving = generateServingCert(ca, { commonName: dnsNames[0] ?? ips[0] ?? 'localhost', dnsNames, ips, now });
      await writeAtomic(p('tls.key'), serving.key, 0o600);
      await writeAtomic(p('tls.crt'), serving.cert, 0o644);
      created = true;
    }
    // Final check so a bug here surfaces as a clear message at start, not a TLS alert later.
    try {
      checkPair(serving!, { ca: ca.cert, hosts, now });
    } catch (err) {
      throw new Error(`dev certificates in ${dir} are unusable: ${errMsg(err)}`, { cause: err });
    }
    return { key: serving!.key, cert: serving!.cert, ca: ca.cert, caPath: path.resolve(p('ca.crt')), created };
  });
}
