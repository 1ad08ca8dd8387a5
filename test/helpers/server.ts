import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createLogger, startServer, type Started } from '../../src/cli/serve.js';
import { loadSettings, type Settings } from '../../src/settings/settings.js';
import { readFileSync } from 'node:fs';
import pino from 'pino';

/** A real server on 127.0.0.1 over HTTPS with its own dev CA, for end-to-end tests. */
export interface TestServer {
  url: string;
  ca: string;
  settings: Settings;
  started: Started;
  post(
    p: string,
    body: unknown,
    opts?: { raw?: string | Buffer; headers?: Record<string, string> },
  ): Promise<HttpResult>;
  get(p: string): Promise<HttpResult>;
  close(): Promise<void>;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export function request(
  url: string,
  ca: string,
  method: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
  agent?: https.Agent,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers, agent }, (res) => {
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
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

export async function startTestServer(
  env: Record<string, string> = {},
  opts: { logFile?: string } = {},
): Promise<TestServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gra-test-'));
  const settings = loadSettings({
    GRA_PORT: '0',
    GRA_METRICS_PORT: '0',
    GRA_CERT_DIR: dir,
    GRA_LOG_LEVEL: 'silent',
    ...env,
  });
  // logFile: the log lines into a file, as a container runtime keeps them, instead of this
  // process's stdout, which tap reads and parses line by line
  const logger = createLogger(
    settings,
    opts.logFile ? pino.destination({ dest: opts.logFile, sync: false }) : undefined,
  );
  const started = await startServer(settings, logger);
  const ca = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  const agent = new https.Agent({ keepAlive: true, ca });
  return {
    url: started.url,
    ca,
    settings,
    started,
    post: (p, body, opts = {}) =>
      request(
        started.url + p,
        ca,
        'POST',
        opts.raw ?? JSON.stringify(body),
        { 'content-type': 'application/json', ...(opts.headers ?? {}) },
        agent,
      ),
    get: (p) => request(started.url + p, ca, 'GET', undefined, {}, agent),
    close: async () => {
      agent.destroy();
      await started.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Wrap a bare object in an AdmissionReview v1 request as the apiserver sends it. */
export function review(object: any, over: Record<string, unknown> = {}): any {
  const kind = String(object?.kind ?? 'ConfigMap');
  const group =
    kind === 'Deployment' || kind === 'StatefulSet' || kind === 'DaemonSet' ? 'apps' : '';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${Math.random().toString(16).slice(2)}`,
      kind: { group, version: 'v1', kind },
      resource: { group, version: 'v1', resource: kind.toLowerCase() + 's' },
      name: object?.metadata?.name,
      namespace: object?.metadata?.namespace,
      operation: 'CREATE',
      userInfo: { username: 'test' },
      object,
      oldObject: null,
      dryRun: false,
      ...over,
    },
  };
}
