import t from 'tap';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { FileCertSource } from '../../src/certs/files-source.js';
import { createCertSource } from '../../src/certs/source.js';
import {
  DAY_MS,
  generateCa,
  issueServingForService,
  type PemPair,
} from '../../src/certs/generate.js';
import { loadSettings } from '../../src/settings/settings.js';
import type { CertPair } from '../../src/certs/types.js';

const silent = pino({ level: 'silent' });

/** Lay out a directory the way the kubelet's atomic writer does, and swap it the same way. */
async function kubeletDir(first: PemPair) {
  const dir = await mkdtemp(path.join(tmpdir(), 'gra-reload-'));
  let n = 0;
  const writeVersion = async (p: PemPair) => {
    const ts = path.join(dir, `..2030_01_01_00_00_0${n++}.000000000`);
    await mkdir(ts);
    await writeFile(path.join(ts, 'tls.crt'), p.cert);
    await writeFile(path.join(ts, 'tls.key'), p.key, { mode: 0o600 });
    return path.basename(ts);
  };
  await symlink(await writeVersion(first), path.join(dir, '..data'));
  await symlink('..data/tls.crt', path.join(dir, 'tls.crt'));
  await symlink('..data/tls.key', path.join(dir, 'tls.key'));
  return {
    dir,
    async swap(p: PemPair) {
      const v = await writeVersion(p);
      await symlink(v, path.join(dir, '..data_tmp'));
      await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    },
  };
}

function get(
  port: number,
  ca: string,
  agent: https.Agent | false,
): Promise<{ serial: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/', servername: 'gra.ci.svc', ca, agent },
      (res) => {
        const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate()
          .serialNumber;
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ serial, reused: req.reusedSocket })
            : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
  });
}

function serial(p: PemPair): string {
  return new X509Certificate(p.cert).serialNumber;
}

const ca = generateCa();
const [A, B, C] = [0, 1, 2].map(() => issueServingForService(ca, 'gra', 'ci')) as [
  PemPair,
  PemPair,
  PemPair,
];

t.test(
  'swapping the mounted certs under load: 0 failed requests, new connections see the new cert',
  async (t) => {
    const kd = await kubeletDir(A);
    const src = await FileCertSource.open({ dir: kd.dir, log: silent, pollMs: 200 });
    t.teardown(() => src.close());
    const server = https.createServer(
      { key: src.current().key, cert: src.current().cert },
      (_req, res) => res.end('ok'),
    );
    // Same wiring as src/server/app.ts: new handshakes get the new context, open connections keep theirs.
    const updated: CertPair[] = [];
    let onNext: (() => void) | undefined;
    src.onUpdate((p) => {
      server.setSecureContext({ key: p.key, cert: p.cert });
      updated.push(p);
      onNext?.();
    });
    const nextUpdate = () => new Promise<void>((r) => (onNext = r));
    server.keepAliveTimeout = 120_000; // as in src/server/app.ts; the keep-alive check below needs the socket to live
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;

    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => keepAlive.destroy());
    t.equal((await get(port, ca.cert, keepAlive)).serial, serial(A));

    let failures = 0;
    let done = 0;
    let stop = false;
    const seen = new Set<string>();
    const MAX = 3000; // bound the loop even if a swap never lands
    const worker = async (agent: https.Agent | false) => {
      while (!stop && done < MAX) {
        try {
          seen.add((await get(port, ca.cert, agent)).serial);
        } catch {
          failures++;
        }
        done++;
      }
    };
    const until = async (n: number) => {
      while (done < n && done < MAX) await new Promise((r) => setImmediate(r));
    };
    const workers = [worker(false), worker(false), worker(false), worker(keepAlive)];

    await until(40);
    const toB = nextUpdate();
    await kd.swap(B);
    await toB;
    const afterB = done;
    await until(afterB + 40);

    // A broken swap (key of another cert) is refused; B keeps serving.
    await kd.swap({ cert: C.cert, key: A.key });
    t.equal(await src.reload(), 'rejected');
    await until(done + 40);
    const toC = nextUpdate();
    await kd.swap(C);
    await toC;
    await until(done + 40);
    stop = true;
    await Promise.all(workers);

    t.equal(failures, 0, `0 failed requests out of ${done}`);
    t.ok(done < MAX, 'the swaps landed before the loop bound');
    t.same(
      updated.map((p) => p.cert),
      [B.cert, C.cert],
      'two reloads, the broken pair never applied',
    );
    t.ok(seen.has(serial(B)), 'requests during the load saw B');
    t.equal(
      (await get(port, ca.cert, false)).serial,
      serial(C),
      'a new connection sees the latest cert',
    );
    const ka = await get(port, ca.cert, keepAlive);
    t.ok(ka.reused, 'the keep-alive connection opened before the swaps is still up');
    t.equal(ka.serial, serial(A), 'and keeps the cert it was opened with');
  },
);

t.test('an expired or mismatched pair is refused at start with a clear message', async (t) => {
  const expired = issueServingForService(ca, 'gra', 'ci', {
    now: new Date(Date.now() - 400 * DAY_MS),
  });
  const kdExpired = await kubeletDir(expired);
  const settings = (dir: string) =>
    loadSettings({
      GRA_CERT_MODE: 'files',
      GRA_CERT_DIR: dir,
      GRA_SERVICE_NAME: 'gra',
      GRA_NAMESPACE: 'ci',
    });
  await t.rejects(createCertSource(settings(kdExpired.dir), silent), {
    name: 'CertError',
    message: new RegExp(
      `^${path.join(kdExpired.dir, 'tls.crt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} expired on \\d{4}-\\d\\d-\\d\\dT`,
    ),
  });
  const kdMismatch = await kubeletDir({ cert: A.cert, key: B.key });
  await t.rejects(createCertSource(settings(kdMismatch.dir), silent), {
    message: `${path.join(kdMismatch.dir, 'tls.key')} does not match ${path.join(kdMismatch.dir, 'tls.crt')}`,
  });
  const empty = await mkdtemp(path.join(tmpdir(), 'gra-reload-'));
  await t.rejects(createCertSource(settings(empty), silent), {
    message: `cannot read tls.crt in ${empty}: ENOENT`,
  });
  const good = await createCertSource(
    { ...settings(kdExpired.dir), certMode: 'certManager', certDir: (await kubeletDir(A)).dir },
    silent,
  );
  t.equal(good.current().cert, A.cert, 'certManager mode reads the same files');
  t.ok(good.ready());
  await good.close();
});
