/**
 * The one HTTP call the verifier makes, behind a fetch-shaped seam so tests can inject their own.
 *
 * Why not @gitbeaker/rest `Runners.verify` here (the CLI does use gitbeaker, see
 * src/cli/create-runner.ts), observed on @gitbeaker/rest 43.8.0 with Node 20.20:
 * - Custom CA: gitbeaker hands its `agent` option to the global fetch as `{ dispatcher: agent }`
 *   (dist/index.mjs defaultRequestHandler). That must be an undici Dispatcher; undici is not a
 *   dependency of this project and Node 20 does not export its bundled one. Passing an
 *   `https.Agent({ ca })` fails with "TypeError: agent.dispatch is not a function" (measured).
 *   The only other route is NODE_EXTRA_CA_CERTS, which is process-wide.
 * - Retries: the same handler retries 429 and 502 up to 10 times. Each verify call records a
 *   runner manager in GitLab, and a struggling GitLab should get fewer calls, not ten times more.
 * - Deadline: the timeout is a per-client `queryTimeout` turned into `AbortSignal.timeout` per
 *   request (@gitbeaker/core RequestHelper.post); a caller cannot pass its own AbortSignal.
 * - Secrets: its errors carry the whole Request (body with the runner token) as `cause`, one
 *   careless log line away from a leak.
 * - Its typing of `verify()` has no `token` parameter at all (dist/index.d.mts).
 * So we POST the documented endpoint ourselves (GitLab API "Verify authentication for a
 * registered runner": `token`, optional `system_id`).
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { rootCertificates } from 'node:tls';

export interface FetchInit {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

export interface FetchResponse {
  status: number;
  text(): Promise<string>;
}

/** A subset of `fetch`: the global one fits, so tests may pass `globalThis.fetch`. */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

/** Response bodies of runners/verify are tiny; refuse to buffer a misbehaving server's megabytes. */
const MAX_BODY = 64 * 1024;

/**
 * A FetchLike over node:https. With a CA file, the CA is ADDED to Node's bundled roots (passing
 * `ca` alone would replace them, so a GitLab with a public certificate would stop working).
 */
export function createHttpsFetch(
  opts: { caFile?: string | undefined } = {},
): FetchLike & { close(): void } {
  const ca = opts.caFile ? [...rootCertificates, readFileSync(opts.caFile, 'utf8')] : undefined;
  // keep-alive: a review verifies a handful of tokens against the same GitLab; reusing the TLS
  // session saves a handshake per call.
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  const fetchLike: FetchLike = (url, init) =>
    new Promise<FetchResponse>((resolve, reject) => {
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
      if (!mod) {
        reject(new Error(`unsupported protocol ${u.protocol}`));
        return;
      }
      const body = Buffer.from(init.body);
      const req = mod.request(
        u,
        {
          method: init.method,
          headers: { ...init.headers, 'content-length': String(body.length) },
          agent: mod === https ? httpsAgent : httpAgent,
          signal: init.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) {
              res.destroy();
              return;
            }
            chunks.push(c);
          });
          res.on('error', () => undefined);
          const status = res.statusCode ?? 0;
          const done = new Promise<string>((ok) => {
            res.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
            res.on('close', () => ok(Buffer.concat(chunks).toString('utf8')));
          });
          resolve({ status, text: () => done });
        },
      );
      req.on('error', (e) => reject(e));
      req.end(body);
    });
  return Object.assign(fetchLike, {
    close(): void {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  });
}
