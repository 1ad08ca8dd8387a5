import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import fjp from 'fast-json-patch';
import { ensureDevCerts } from '../../src/certs/dev.js';
import { createLogger } from '../../src/cli/serve.js';
import { parseReview } from '../../src/admission/review.js';
import type { ValidateDeps } from '../../src/admission/validate.js';
import { buildApp, type App } from '../../src/server/app.js';
import { loadSettings } from '../../src/settings/settings.js';
import { fixturesDir } from '../helpers/fixtures.js';
import { review } from '../helpers/server.js';

/**
 * Shared by the fuzz tests: the real app (buildApp, as serve.ts builds it) driven through
 * fastify.inject (no sockets, so thousands of cases fit in seconds), pino output captured line by
 * line, and the checks every answer must pass. FUZZ_RUNS scales every property (scripts/fuzz-long.mjs).
 */

export const RUNS = Number(process.env.FUZZ_RUNS || 0);
export const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
/** numRuns for one property: `ci` by default, FUZZ_RUNS when set */
export const runs = (ci: number): { numRuns: number; seed?: number; endOnFailure: boolean } => ({
  numRuns: RUNS > 0 ? RUNS : ci,
  ...(SEED !== undefined ? { seed: SEED } : {}),
  endOnFailure: true,
});

/** A token of each kind facts §1 lists, with a high-entropy secret part derived from a seed (reproducible, never colliding with fixed text). */
const ALNUM = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export interface Planted {
  token: string;
  secret: string;
}
export function plantedToken(kind: number, seed: number): Planted {
  let x = seed >>> 0 || 1;
  const rnd = (n: number, alphabet = ALNUM) =>
    Array.from({ length: n }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return alphabet[(x >>> 0) % alphabet.length];
    }).join('');
  const secret = rnd(20);
  const prefixes = ['glrt-', 'GR1348941', 'glpat-', '', 'glrt-t1_', 'glptt-'];
  const prefix = prefixes[kind % prefixes.length]!;
  return { token: prefix + secret, secret };
}
export const tokenArb = fc
  .tuple(fc.nat(5), fc.integer({ min: 1, max: 0x7fffffff }))
  .map(([k, s]) => plantedToken(k, s));

/** Every 8-character window of a secret: none may appear anywhere we print (house rule: prefix + last 4 at most). */
export function leaks(text: string, planted: readonly Planted[]): string | undefined {
  for (const p of planted) {
    for (let i = 0; i + 8 <= p.secret.length; i++) {
      const w = p.secret.slice(i, i + 8);
      if (text.includes(w)) return w;
    }
  }
  return undefined;
}

export interface Harness {
  app: App;
  logs: string[];
  close(): Promise<void>;
}

let certCache: { key: string; cert: string } | undefined;

export async function harness(
  env: Record<string, string> = {},
  deps: ValidateDeps = {},
): Promise<Harness> {
  if (!certCache) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gra-fuzz-'));
    const dev = await ensureDevCerts(dir);
    certCache = { key: dev.key, cert: dev.cert };
    rmSync(dir, { recursive: true, force: true });
  }
  const c = certCache;
  const settings = loadSettings({ GRA_LOG_LEVEL: 'debug', ...env });
  const logs: string[] = [];
  const logger = createLogger(settings, { write: (s: string) => void logs.push(s) });
  const app = buildApp({ settings, logger, certs: { current: () => c, ready: () => true }, deps });
  await app.fastify.ready();
  return { app, logs, close: () => app.fastify.close() };
}

export interface Answer {
  status: number;
  body: string;
  json: any;
}

/** One request, bounded: a hang is a failure, not a stuck test run. */
export async function send(
  h: Harness,
  url: string,
  payload: string | Buffer,
  contentType = 'application/json',
): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within 10 s for ${url}`)), 10_000);
  });
  try {
    const res = await Promise.race([
      h.app.fastify.inject({
        method: 'POST',
        url,
        payload,
        headers: { 'content-type': contentType },
      }),
      hang,
    ]);
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, body: res.body, json };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What the apiserver requires of a webhook answer (k8s.io/apiserver/pkg/admission/plugin/webhook
 * request.go VerifyAdmissionResponse): HTTP 200, apiVersion/kind of the request, the exact uid, an
 * `allowed` boolean; a patch only with patchType JSONPatch, and here only from /mutate, and it must apply.
 * Returns a description of the first violation, or undefined.
 */
export function contractViolation(
  webhook: 'validate' | 'mutate',
  reqBody: unknown,
  a: Answer,
): string | undefined {
  const parsed = parseReview(reqBody);
  if (!parsed.ok)
    return a.status >= 400 && a.status < 500 ? undefined : `malformed review answered ${a.status}`;
  if (a.status !== 200) return `well-formed review answered ${a.status}: ${a.body.slice(0, 200)}`;
  const j = a.json;
  if (j?.apiVersion !== 'admission.k8s.io/v1' || j?.kind !== 'AdmissionReview')
    return 'wrong apiVersion/kind';
  const r = j.response;
  if (!r || r.uid !== parsed.request.uid) return 'uid not echoed';
  if (typeof r.allowed !== 'boolean') return 'allowed is not a boolean';
  if (!r.allowed && (typeof r.status?.code !== 'number' || typeof r.status?.message !== 'string'))
    return 'denial without status code/message';
  if (
    r.warnings !== undefined &&
    (!Array.isArray(r.warnings) || r.warnings.some((w: unknown) => typeof w !== 'string'))
  )
    return 'warnings not strings';
  if (r.patch !== undefined || r.patchType !== undefined) {
    if (webhook !== 'mutate') return 'patch from /validate';
    if (r.patchType !== 'JSONPatch' || typeof r.patch !== 'string')
      return 'patch without patchType JSONPatch';
    let ops: unknown;
    try {
      ops = JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8'));
    } catch {
      return 'patch is not base64 JSON';
    }
    if (!Array.isArray(ops)) return 'patch is not an array';
    try {
      fjp.applyPatch(structuredClone(parsed.request.object), ops as fjp.Operation[], true, false);
    } catch (e) {
      return `patch does not apply: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  return undefined;
}

/** The captured AdmissionReviews (test/fixtures/admission), parsed. */
export function fixtureReviews(): any[] {
  const dir = path.join(fixturesDir, 'admission');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
}

export function wrapReview(object: any, uid: string, over: Record<string, unknown> = {}): any {
  return review(object, { uid, userInfo: { username: 'fuzz' }, ...over });
}
