#!/usr/bin/env node
/**
 * npm run soak — the webhook (dist/, child process, dev certs in a temp dir) under a steady,
 * open-loop HTTPS load on 127.0.0.1 for 10 minutes: a mix of the seed ConfigMap (deny), an
 * unrelated ConfigMap, a 20-runner Secret and the seed Deployment on /mutate. Every answer must be
 * HTTP 200 with the expected verdict; RSS is sampled every 10 s and its median must not drift by
 * 10 % or more between the first and the second half of the run.
 *
 * Env: SOAK_SECONDS (default 600), SOAK_RATE (req/s, default 200), SOAK_WARMUP (s, default 60).
 * Exit 1 when a request failed or RSS drifted ≥ 10 %.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import YAML from 'yaml';
import { wrap as wrapReview } from './review.mjs';
import { spawnWebhook } from './webhook.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { ensureDevCerts } = await import(path.join(root, 'dist/certs/dev.js'));

const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const RATE = Number(process.env.SOAK_RATE || 200);
const WARMUP = Number(process.env.SOAK_WARMUP || 60);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'gra-soak-'));
let child;
process.on('exit', () => {
  child?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const fixture = (p) => JSON.parse(readFileSync(path.join(root, 'test/fixtures', p), 'utf8'));
const wrap = (object, kind, group = '') =>
  wrapReview(object, kind, group, { uid: 'soak-0000', username: 'soak' });

let toml = 'concurrent = 20\n';
for (let i = 0; i < 20; i++)
  toml += `\n[[runners]]\n  name = "r${i}"\n  url = "https://gitlab.example.com"\n  token = "glrt-Soak${String(i).padStart(2, '0')}xQ7vLm2pN9bRt4w"\n  executor = "kubernetes"\n  [runners.kubernetes]\n    namespace = "ci"\n`;
const MIX = [
  {
    name: 'deny',
    path: '/validate',
    body: fixture('admission/configmap-create-registration-token.json'),
    allowed: false,
  },
  {
    name: 'unrelated',
    path: '/validate',
    body: wrap(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'a', namespace: 'b' },
        data: { k: 'v' },
      },
      'ConfigMap',
    ),
    allowed: true,
  },
  {
    name: 'large',
    path: '/validate',
    body: wrap(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'c', namespace: 'ci' },
        data: { 'config.toml': Buffer.from(toml).toString('base64') },
      },
      'Secret',
    ),
    allowed: true,
  },
  {
    name: 'mutate',
    path: '/mutate',
    body: wrap(
      YAML.parse(readFileSync(path.join(root, 'test/fixtures/seed/deployment-run.yaml'), 'utf8')),
      'Deployment',
      'apps',
    ),
    allowed: true,
  },
].map((m) => ({ ...m, text: JSON.stringify(m.body) }));

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = /** @type {import('node:net').AddressInfo} */ (s.address()).port;
    s.close(() => resolve(p));
  });
});
const certDir = path.join(tmp, 'certs');
const dev = await ensureDevCerts(certDir);
child = spawnWebhook({ port, certDir, env: { GRA_SHUTDOWN_GRACE_MS: '1000' } });
const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: dev.ca });

function post(m) {
  return new Promise((resolve) => {
    const t = performance.now();
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: `${m.path}?timeout=10s`,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(m.text),
        },
      },
      (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (s += c));
        res.on('end', () => {
          let ok = res.statusCode === 200;
          try {
            ok = ok && JSON.parse(s).response.allowed === m.allowed;
          } catch {
            ok = false;
          }
          resolve({
            ok,
            ms: performance.now() - t,
            why: ok ? '' : `${m.name}: HTTP ${res.statusCode} ${s.slice(0, 120)}`,
          });
        });
      },
    );
    req.on('error', (e) =>
      resolve({
        ok: false,
        ms: performance.now() - t,
        why: `${m.name}: ${/** @type {NodeJS.ErrnoException} */ (e).code ?? e.message}`,
      }),
    );
    req.end(m.text);
  });
}

const rss = () => {
  try {
    return (
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024
    );
  } catch {
    return NaN;
  }
};

for (let i = 0; ; i++) {
  if (i > 200 || child.exitCode !== null) throw new Error('webhook did not start');
  const r = await post(MIX[1]);
  if (r.ok) break;
  await new Promise((r2) => setTimeout(r2, 100));
}

console.log(
  `soak: ${RATE} req/s for ${SECONDS} s (+${WARMUP} s warm-up), mix ${MIX.map((m) => m.name).join('/')}, node ${process.version}, ${os.cpus().length} CPUs`,
);
let failed = 0;
const reasons = new Map();
let window = [];
let total = 0;
const samples = [];
const t0 = performance.now();
const end = WARMUP + SECONDS;
let nextReport = WARMUP;
const inflight = new Set();
let baseRss;
for (let i = 0; ; i++) {
  const due = t0 + (i * 1000) / RATE;
  if ((due - t0) / 1000 >= end) break;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const el = (performance.now() - t0) / 1000;
  const p = post(MIX[i % MIX.length]).then((r) => {
    inflight.delete(p);
    if (el < WARMUP) return;
    total++;
    window.push(r.ms);
    if (!r.ok) {
      failed++;
      reasons.set(r.why, (reasons.get(r.why) ?? 0) + 1);
    }
  });
  inflight.add(p);
  if (el >= WARMUP && baseRss === undefined) {
    baseRss = rss();
    samples.push({ t: 0, rss: baseRss });
  }
  if (el >= nextReport + 10) {
    nextReport += 10;
    const r = rss();
    samples.push({ t: Math.round(el - WARMUP), rss: r });
    window.sort((a, b) => a - b);
    const q = (x) =>
      window.length ? window[Math.min(window.length - 1, Math.floor(x * window.length))] : NaN;
    console.log(
      `  t=${lpad(Math.round(el - WARMUP), 4)} s  rss ${r.toFixed(1)} MB  p50 ${q(0.5).toFixed(2)} ms  p99 ${q(0.99).toFixed(2)} ms  failed ${failed}`,
    );
    window = [];
  }
}
await Promise.all(inflight);
const lastRss = rss();
samples.push({ t: SECONDS, rss: lastRss });
child.kill('SIGTERM');
agent.destroy();

function lpad(s, n) {
  return String(s).padStart(n);
}
const rssValues = samples.map((s) => s.rss);
// RSS is a sawtooth (V8 grows the heap, then a major GC gives memory back, dipping below the
// plateau for a sample or two), so two single samples, or two minima, can differ by 15-30 % on a
// healthy process. A leak moves the whole distribution: compare the medians of the two halves.
// The end-to-end change is printed too.
const half = Math.max(1, Math.floor(rssValues.length / 2));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
const floor1 = median(rssValues.slice(0, half));
const floor2 = median(rssValues.slice(half));
const drift = (floor2 - floor1) / floor1;
console.log('');
console.log(`requests: ${total}, failed: ${failed}`);
for (const [why, n] of reasons) console.log(`  ${n} × ${why}`);
console.log(
  `RSS after warm-up ${baseRss.toFixed(1)} MB, at the end ${lastRss.toFixed(1)} MB (${(((lastRss - baseRss) / baseRss) * 100).toFixed(1)} %), min ${Math.min(...rssValues).toFixed(1)}, max ${Math.max(...rssValues).toFixed(1)}`,
);
console.log(
  `RSS median: first half ${floor1.toFixed(1)} MB, second half ${floor2.toFixed(1)} MB; drift ${(drift * 100).toFixed(1)} %`,
);
const ok = failed === 0 && drift < 0.1;
console.log(`${failed === 0 ? 'PASS' : 'MISS'}  0 errors`);
console.log(`${drift < 0.1 ? 'PASS' : 'MISS'}  RSS drift < 10 %`);
process.exit(ok ? 0 : 1);
