/**
 * The server's Kubernetes API client: JSON over one keep-alive HTTPS agent, authenticated as the
 * target says (src/kube/kubeconfig.ts). It makes the server's five kinds of call (get ConfigMap
 * and Secret for lookups; get/create/replace the TLS Secret and patch the webhook
 * configurations' caBundle for selfManaged certs) without loading @kubernetes/client-node on the
 * server path (README, "Versions").
 *
 * Failures: a non-2xx answer is a KubeApiError with the HTTP code and the apiserver's Status
 * reason and message (https://kubernetes.io/docs/reference/using-api/api-concepts/#responses);
 * network errors keep Node's error code. Neither ever carries a header or a request body, so no
 * credential or Secret value can reach a log line through them.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { isRecord } from '../util/is-record.js';
import { loadKubeTarget, type ExecCredentialPlugin, type KubeTarget } from './kubeconfig.js';

export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    /** HTTP status */
    readonly code: number,
    /** the Status reason (NotFound, Forbidden, Conflict, AlreadyExists, ...), if the body had one */
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  body?: unknown;
  /** default application/json; JSON Patch needs application/json-patch+json */
  contentType?: string;
  signal?: AbortSignal;
}

export interface KubeClient {
  /** JSON in, JSON out; rejects with KubeApiError on a non-2xx answer */
  request(method: string, apiPath: string, opts?: RequestOptions): Promise<unknown>;
  close(): void;
}

export interface ClientOptions {
  /** each call's limit when the caller passes no signal (default 10 s) */
  timeoutMs?: number;
  /** exec credential plugins get this long (default 10 s) */
  execTimeoutMs?: number;
  /** how long a token file is trusted before it is read again (default 60 s, as client-go) */
  tokenFileTtlMs?: number;
}

/** A ConfigMap or Secret is at most 1 MiB in etcd; a list-free client never needs more than this. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const USER_AGENT = 'gitlab-runner-admission';

interface Credential {
  authorization?: string;
  cert?: string;
  key?: string;
  /** ms epoch after which it must be fetched again */
  expires: number;
}

/** Runs the plugin as kubectl does and reads its ExecCredential (client.authentication.k8s.io). */
function runExecPlugin(plugin: ExecCredentialPlugin, timeoutMs: number): Promise<Credential> {
  // A relative command with a slash is relative to the kubeconfig, like kubectl.
  const command =
    plugin.dir && plugin.command.includes('/') && !path.isAbsolute(plugin.command)
      ? path.resolve(plugin.dir, plugin.command)
      : plugin.command;
  const execInfo = JSON.stringify({
    apiVersion: plugin.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false },
  });
  return new Promise((resolve, reject) => {
    execFile(
      command,
      plugin.args,
      {
        env: { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: execInfo },
        timeout: timeoutMs,
        maxBuffer: 1024 * 1024,
      },
      (err, stdout) => {
        // The plugin's output and stderr may hold a credential: never quote them.
        if (err) {
          const why = err.killed
            ? `timed out after ${timeoutMs} ms`
            : `failed (${err.code ?? 'error'})`;
          reject(new Error(`exec credential plugin ${path.basename(command)} ${why}`));
          return;
        }
        let status: unknown;
        try {
          status = (JSON.parse(stdout) as { status?: unknown }).status;
        } catch {
          reject(new Error(`exec credential plugin ${path.basename(command)} printed no JSON`));
          return;
        }
        if (!isRecord(status)) {
          reject(new Error(`exec credential plugin ${path.basename(command)} returned no status`));
          return;
        }
        const exp =
          typeof status.expirationTimestamp === 'string'
            ? Date.parse(status.expirationTimestamp)
            : NaN;
        const cred: Credential = { expires: Number.isFinite(exp) ? exp : Infinity };
        if (typeof status.token === 'string' && status.token)
          cred.authorization = `Bearer ${status.token}`;
        if (typeof status.clientCertificateData === 'string')
          cred.cert = status.clientCertificateData;
        if (typeof status.clientKeyData === 'string') cred.key = status.clientKeyData;
        resolve(cred);
      },
    );
  });
}

export function createKubeClient(target: KubeTarget, opts: ClientOptions = {}): KubeClient {
  const base = new URL(target.server);
  if (base.protocol !== 'https:' && base.protocol !== 'http:')
    throw new Error(`Kubernetes API server ${target.server}: only https and http are supported`);
  const secure = base.protocol === 'https:';
  const prefix = base.pathname.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const tokenTtl = opts.tokenFileTtlMs ?? 60_000;

  const agents = new Map<string, http.Agent>();
  const agentFor = (cert?: string, key?: string): http.Agent => {
    const id = `${cert ?? ''}\0${key ?? ''}`;
    let a = agents.get(id);
    if (!a) {
      // A rotated exec client cert replaces the agent; the old one just idles out.
      for (const old of agents.values()) old.destroy();
      agents.clear();
      const common = { keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: 60_000 };
      a = secure
        ? new https.Agent({
            ...common,
            ...(target.ca ? { ca: target.ca } : {}),
            ...(cert ? { cert } : {}),
            ...(key ? { key } : {}),
            ...(target.tlsServerName ? { servername: target.tlsServerName } : {}),
            rejectUnauthorized: target.insecureSkipTLSVerify !== true,
          })
        : new http.Agent(common);
      agents.set(id, a);
    }
    return a;
  };

  let cached: Credential | undefined;
  let pending: Promise<Credential> | undefined;
  const credential = async (): Promise<Credential> => {
    if (cached && Date.now() < cached.expires) return cached;
    if (target.exec) {
      pending ??= runExecPlugin(target.exec, opts.execTimeoutMs ?? 10_000).finally(() => {
        pending = undefined;
      });
      // Renew a minute early, as client-go does for expiring credentials.
      const c = await pending;
      cached = { ...c, expires: c.expires - 60_000 };
      if (!c.authorization && target.token) cached.authorization = `Bearer ${target.token}`;
      return cached;
    }
    if (target.tokenFile) {
      try {
        const token = readFileSync(target.tokenFile, 'utf8').trim();
        cached = { authorization: `Bearer ${token}`, expires: Date.now() + tokenTtl };
      } catch (err) {
        // The kubelet swaps the file atomically; a failed read keeps the last token for now.
        if (!cached)
          throw new Error(
            `cannot read the token file ${target.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
            { cause: err },
          );
        cached = { ...cached, expires: Date.now() + 1_000 };
      }
      return cached;
    }
    const c: Credential = { expires: Infinity };
    if (target.token) c.authorization = `Bearer ${target.token}`;
    else if (target.username !== undefined)
      c.authorization = `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
    cached = c;
    return c;
  };

  const send = async (method: string, apiPath: string, o: RequestOptions): Promise<unknown> => {
    const cred = await credential();
    const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': USER_AGENT,
    };
    if (cred.authorization) headers.authorization = cred.authorization;
    if (payload) {
      headers['content-type'] = o.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const signal = o.signal ?? AbortSignal.timeout(timeoutMs);
    const lib = secure ? https : http;
    return new Promise<unknown>((resolve, reject) => {
      const req = lib.request(
        {
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port || (secure ? 443 : 80),
          path: prefix + apiPath,
          method,
          headers,
          agent: agentFor(cred.cert ?? target.cert, cred.key ?? target.key),
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) {
              if (json === undefined && text)
                reject(new Error(`${method} ${apiPath}: the answer is not JSON`));
              else resolve(json);
              return;
            }
            const st = isRecord(json) ? json : {};
            const reason = typeof st.reason === 'string' ? st.reason : undefined;
            // The Status message names the object and the verb, never its content.
            const msg =
              typeof st.message === 'string' ? st.message.slice(0, 300) : (res.statusMessage ?? '');
            reject(new KubeApiError(code, reason, `HTTP ${code}${msg ? `: ${msg}` : ''}`));
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  };

  return {
    async request(method, apiPath, o = {}) {
      try {
        return await send(method, apiPath, o);
      } catch (err) {
        // An expired exec or file credential is fetched again once.
        if (err instanceof KubeApiError && err.code === 401 && (target.exec || target.tokenFile)) {
          cached = undefined;
          return send(method, apiPath, o);
        }
        throw err;
      }
    },
    close() {
      for (const a of agents.values()) a.destroy();
      agents.clear();
    },
  };
}

/** `/api/v1/namespaces/{ns}/{resource}[/{name}]`, each segment escaped */
export function corePath(namespace: string, resource: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** A client, or why there is none (no kubeconfig, unreadable files): decided once per process. */
export type KubeConnection = { client: KubeClient } | { client?: undefined; unavailable: string };

/** The process's one client: for `target`, else the default kubeconfig (loadKubeTarget). */
export async function connectKube(target?: KubeTarget): Promise<KubeConnection> {
  try {
    return { client: createKubeClient(target ?? (await loadKubeTarget())) };
  } catch (err) {
    return {
      unavailable:
        err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : 'no kubeconfig',
    };
  }
}
