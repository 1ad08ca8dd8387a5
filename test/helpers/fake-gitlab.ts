/**
 * A fake GitLab on 127.0.0.1 over HTTPS (its own throwaway CA), answering the runner endpoints with
 * the status codes of docs/facts.md §3 (and GitLab Rails lib/api/ci/runner.rb, lib/api/users.rb):
 *
 *   POST   /api/v4/runners/verify   200 {id, token, token_expires_at} | 403 | 422 orphaned
 *   POST   /api/v4/runners          201 {id, token, token_expires_at} | 403 | 410 registration disallowed
 *   DELETE /api/v4/runners          204 | 403
 *   POST   /api/v4/user/runners     201 {id, token: glrt-…, token_expires_at} | 401 | 403 (no create_runner) | 400
 *   POST   /api/v4/jobs/request     204 no job | 403
 *
 * It can be told to be slow (`delayMs`), down (every connection closed without an answer) or to
 * fail with a 5xx, and records every request so tests can assert what was and was not called.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateCa, generateServingCert } from '../../src/certs/generate.js';

export type RunnerTokenState = 'valid' | 'revoked' | 'orphaned';

export interface RecordedRequest {
  method: string;
  /** path without query */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  /** false while the fake is still holding it (slow mode) or when it hung up (down mode) */
  responded: boolean;
}

export interface FakeGitlab {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** PEM of the CA that signed the fake's certificate */
  caPem: string;
  /** the same CA written to a file (for settings.gitlab.caFile / NODE_EXTRA_CA_CERTS) */
  caFile: string;
  requests: RecordedRequest[];
  /** TCP connections accepted so far (proves "never contacted", not just "no HTTP request") */
  connections: number;
  /** requests to one endpoint, e.g. `calls('POST', '/api/v4/runners/verify')` */
  calls(method: string, path: string): RecordedRequest[];
  /** answer every request this much later */
  delayMs: number;
  /** close every connection without an answer */
  down: boolean;
  /** answer every request with this status (e.g. 500, 503) */
  failStatus: number | undefined;
  /** POST /runners answers 410 (GitLab 17.0+ default: registration tokens disabled) */
  registrationDisabled: boolean;
  addRunnerToken(token: string, state?: RunnerTokenState, tokenExpiresAt?: string | null): number;
  setRunnerToken(token: string, state: RunnerTokenState): void;
  addRegistrationToken(token: string): void;
  addPersonalAccessToken(token: string, scopes: string[]): void;
  /** runner tokens created through the fake (POST /user/runners, POST /runners), newest last */
  created: Array<{ id: number; token: string; runnerType?: string; body: Record<string, unknown> }>;
  reset(): void;
  close(): Promise<void>;
}

let certCache: { caPem: string; key: string; cert: string } | undefined;

/** RSA keygen is the slow part; one CA per test process is enough. */
function certs(): { caPem: string; key: string; cert: string } {
  if (!certCache) {
    const ca = generateCa({ commonName: 'fake-gitlab-test-ca' });
    const leaf = generateServingCert(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ips: ['127.0.0.1'],
    });
    certCache = { caPem: ca.cert, key: leaf.key, cert: leaf.cert };
  }
  return certCache;
}

function newRunnerToken(): string {
  return 'glrt-' + randomBytes(15).toString('base64url').slice(0, 20);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('application/json')) {
    try {
      const v = JSON.parse(text) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function json(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startFakeGitlab(): Promise<FakeGitlab> {
  const { caPem, key, cert } = certs();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-gitlab-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, caPem);

  let nextId = 1000;
  const runners = new Map<
    string,
    { id: number; state: RunnerTokenState; expiresAt: string | null }
  >();
  const registration = new Set<string>();
  const pats = new Map<string, string[]>();
  const timers = new Set<NodeJS.Timeout>();

  const fake: FakeGitlab = {
    url: '',
    port: 0,
    caPem,
    caFile,
    requests: [],
    connections: 0,
    calls: (method, p) => fake.requests.filter((r) => r.method === method && r.path === p),
    delayMs: 0,
    down: false,
    failStatus: undefined,
    registrationDisabled: false,
    created: [],
    addRunnerToken(token, state = 'valid', tokenExpiresAt = null) {
      const id = nextId++;
      runners.set(token, { id, state, expiresAt: tokenExpiresAt });
      return id;
    },
    setRunnerToken(token, state) {
      const r = runners.get(token);
      if (r) r.state = state;
      else runners.set(token, { id: nextId++, state, expiresAt: null });
    },
    addRegistrationToken: (token) => void registration.add(token),
    addPersonalAccessToken: (token, scopes) => void pats.set(token, scopes),
    reset() {
      fake.requests.length = 0;
      fake.connections = 0;
      fake.delayMs = 0;
      fake.down = false;
      fake.failStatus = undefined;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  function route(rec: RecordedRequest, req: IncomingMessage, res: ServerResponse): void {
    const body = rec.body;
    const token = typeof body.token === 'string' ? body.token : undefined;
    const key = `${rec.method} ${rec.path}`;
    switch (key) {
      case 'POST /api/v4/runners/verify': {
        const r = token !== undefined ? runners.get(token) : undefined;
        if (!r || r.state === 'revoked') return json(res, 403, { message: '403 Forbidden' });
        if (r.state === 'orphaned') return json(res, 422, { message: 'Runner is orphaned' });
        return json(res, 200, { id: r.id, token, token_expires_at: r.expiresAt });
      }
      case 'POST /api/v4/runners': {
        if (token === undefined || !registration.has(token))
          return json(res, 403, { message: '403 Forbidden' });
        if (fake.registrationDisabled)
          return json(res, 410, { message: 'runner registration is disallowed' });
        const t = newRunnerToken();
        const id = fake.addRunnerToken(t);
        fake.created.push({ id, token: t, body });
        return json(res, 201, { id, token: t, token_expires_at: null });
      }
      case 'DELETE /api/v4/runners': {
        const r = token !== undefined ? runners.get(token) : undefined;
        if (!r || r.state === 'revoked') return json(res, 403, { message: '403 Forbidden' });
        r.state = 'revoked';
        return json(res, 204);
      }
      case 'POST /api/v4/user/runners': {
        const pat = req.headers['private-token'];
        const scopes = typeof pat === 'string' ? pats.get(pat) : undefined;
        if (!scopes) return json(res, 401, { message: '401 Unauthorized' });
        if (!scopes.includes('create_runner')) {
          return json(res, 403, {
            error: 'insufficient_scope',
            error_description:
              'The request requires higher privileges than provided by the access token.',
          });
        }
        const type = body.runner_type;
        if (type !== 'instance_type' && type !== 'group_type' && type !== 'project_type') {
          return json(res, 400, { error: 'runner_type does not have a valid value' });
        }
        if (type === 'group_type' && body.group_id === undefined)
          return json(res, 400, { message: 'group_id is missing' });
        if (type === 'project_type' && body.project_id === undefined)
          return json(res, 400, { message: 'project_id is missing' });
        const t = newRunnerToken();
        const id = fake.addRunnerToken(t);
        fake.created.push({ id, token: t, runnerType: type, body });
        return json(res, 201, { id, token: t, token_expires_at: null });
      }
      case 'POST /api/v4/jobs/request': {
        const r = token !== undefined ? runners.get(token) : undefined;
        if (!r || r.state === 'revoked') return json(res, 403, { message: '403 Forbidden' });
        if (r.state === 'orphaned') return json(res, 422, { message: 'Runner is orphaned' });
        return json(res, 204);
      }
      default:
        return json(res, 404, { message: '404 Not Found' });
    }
  }

  const server = https.createServer({ key, cert }, (req, res) => {
    void (async () => {
      const body = await readBody(req);
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        headers: { ...req.headers },
        body,
        responded: false,
      };
      fake.requests.push(rec);
      if (fake.down) {
        req.socket.destroy();
        return;
      }
      const answer = (): void => {
        if (res.destroyed || req.socket.destroyed) return;
        rec.responded = true;
        if (fake.failStatus !== undefined)
          return json(res, fake.failStatus, { message: `${fake.failStatus} fake failure` });
        route(rec, req, res);
      };
      if (fake.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, fake.delayMs);
        timers.add(t);
      } else answer();
    })();
  });

  server.on('connection', () => void (fake.connections += 1));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `https://127.0.0.1:${fake.port}`;
  return fake;
}
