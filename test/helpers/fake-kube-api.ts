/**
 * A fake Kubernetes API server on 127.0.0.1 over HTTPS, for tests that drive the real
 * @kubernetes/client-node against it. A generic in-memory object store keyed by
 * apiVersion/kind/namespace/name, with the apiserver semantics our code relies on:
 * - GET item / list, POST (409 AlreadyExists), PUT (404 NotFound, 409 Conflict when
 *   metadata.resourceVersion is stale), PATCH (JSON patch, merge patch; strategic merge is
 *   treated as merge patch, which is exact for maps), DELETE;
 * - a PATCH whose result carries a different metadata.resourceVersion than the stored object is
 *   a 409 Conflict: the apiserver uses a resourceVersion in the patched object as a precondition
 *   (https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply, "resourceVersion");
 * - Secret `stringData` is folded into `data` on write, as the apiserver does;
 * - failures are `Status` objects with reason and code, as client-node's ApiException expects.
 * Hooks (`intercept`) can delay a request, hold it until some condition, or answer 403/500 etc.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClient, type KubeConnection } from '../../src/kube/client.js';
import type { KubeTarget } from '../../src/kube/kubeconfig.js';
import fjp, { type Operation } from 'fast-json-patch';
import { generateCa, generateServingCert, type PemPair } from '../../src/certs/generate.js';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export interface FakeRequest {
  method: string;
  verb: 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete';
  apiVersion: string;
  kind: string;
  plural: string;
  namespace?: string;
  name?: string;
  body?: unknown;
  contentType?: string;
}

/** What an interceptor may do: nothing (undefined), answer with a status, or wait first. */
export type InterceptResult =
  undefined | void | { status: number; message?: string; reason?: string };
export type Interceptor = (req: FakeRequest) => InterceptResult | Promise<InterceptResult>;

export interface LoggedRequest {
  method: string;
  path: string;
  verb: FakeRequest['verb'];
  kind: string;
  name?: string;
  status: number;
  contentType?: string;
}

interface ResourceType {
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

const BUILTIN: Record<string, ResourceType> = {
  'v1/secrets': { apiVersion: 'v1', kind: 'Secret', namespaced: true },
  'v1/configmaps': { apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  'v1/pods': { apiVersion: 'v1', kind: 'Pod', namespaced: true },
  'v1/serviceaccounts': { apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true },
  'v1/namespaces': { apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  'admissionregistration.k8s.io/v1/validatingwebhookconfigurations': {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
  },
};

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export interface FakeKubeApi {
  url: string;
  /** PEM of the CA that signed the fake's serving cert */
  ca: string;
  token: string;
  /** a KubeConfig for client-node (the CLI's scan) pointing at this fake, trusting its CA */
  kubeConfig(): KubeConfig;
  /** the same, for the server's own client (src/kube/client.ts) */
  target(): KubeTarget;
  /** a connected server client, as startServer would make one */
  connection(): KubeConnection;
  /** the same as a kubeconfig file's text, for a `serve` child process's $KUBECONFIG */
  kubeconfigYaml(): string;
  /** seed or overwrite an object (bumps resourceVersion, fills uid) and return the stored copy */
  put(obj: KubeObject): KubeObject;
  get(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): KubeObject | undefined;
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean;
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[];
  /** register an extra resource type: plural as in the URL, e.g. ('example.com/v1', 'widgets', 'Widget', true) */
  registerType(apiVersion: string, plural: string, kind: string, namespaced: boolean): void;
  /** add a hook run before each request; returns a function removing it */
  intercept(fn: Interceptor): () => void;
  /** convenience: every matching request waits ms first */
  latency(ms: number, match?: (r: FakeRequest) => boolean): () => void;
  /** convenience: the next `times` matching requests fail with status (403, 500, ...) */
  failNext(status: number, match?: (r: FakeRequest) => boolean, times?: number): () => void;
  requests: LoggedRequest[];
  close(): Promise<void>;
}

function key(
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  name: string,
): string {
  return `${apiVersion}/${kind}/${namespace ?? ''}/${name}`;
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** RFC 7386 JSON merge patch */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

let tlsMaterial: { ca: PemPair; serving: PemPair } | undefined;
/** RSA keygen is the slow part of starting a fake; one CA per test process is enough. */
function fakeTls(): { ca: PemPair; serving: PemPair } {
  if (!tlsMaterial) {
    const ca = generateCa({ commonName: 'fake-kube-api-ca' });
    tlsMaterial = {
      ca,
      serving: generateServingCert(ca, {
        commonName: 'localhost',
        dnsNames: ['localhost'],
        ips: ['127.0.0.1'],
      }),
    };
  }
  return tlsMaterial;
}

export async function startFakeKubeApi(opts: { token?: string } = {}): Promise<FakeKubeApi> {
  const token = opts.token ?? `fake-token-${randomUUID()}`;
  const { ca, serving } = fakeTls();
  const types = new Map<string, ResourceType>(Object.entries(BUILTIN));
  const objects = new Map<string, KubeObject>();
  const interceptors: Interceptor[] = [];
  const requests: LoggedRequest[] = [];
  let rv = 1000;

  const nextRv = (): string => String(++rv);

  const store = (obj: KubeObject): KubeObject => {
    const o = clone(obj);
    if (o.kind === 'Secret' && isObj(o.stringData)) {
      const data: Record<string, string> = {
        ...((o.data as Record<string, string> | undefined) ?? {}),
      };
      for (const [k, v] of Object.entries(o.stringData))
        data[k] = Buffer.from(String(v)).toString('base64');
      o.data = data;
      delete o.stringData;
    }
    const prev = objects.get(key(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name));
    o.metadata = {
      ...o.metadata,
      uid: prev?.metadata.uid ?? o.metadata.uid ?? randomUUID(),
      creationTimestamp:
        (prev?.metadata.creationTimestamp as string | undefined) ?? new Date().toISOString(),
      resourceVersion: nextRv(),
    };
    objects.set(key(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name), o);
    return clone(o);
  };

  const status = (
    res: ServerResponse,
    code: number,
    message: string,
    details?: { name?: string; kind?: string },
    reason?: string,
  ) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: reason ?? REASONS[code] ?? 'Unknown',
        details: details ?? {},
        code,
      }),
    );
  };

  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const parsePath = (
    p: string,
  ): { type: ResourceType; plural: string; namespace?: string; name?: string } | undefined => {
    const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
    let gv: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) {
      gv = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts[1] && parts[2]) {
      gv = `${parts[1]}/${parts[2]}`;
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, ...extra] = rest;
    if (!plural || extra.length) return undefined;
    const type = types.get(`${gv}/${plural}`);
    if (!type) return undefined;
    return {
      type,
      plural,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
    };
  };

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = req.method ?? 'GET';
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    const log = (verb: FakeRequest['verb'], kind: string, name: string | undefined, code: number) =>
      requests.push({
        method,
        path: url.pathname,
        verb,
        kind,
        ...(name ? { name } : {}),
        status: code,
        ...(contentType ? { contentType } : {}),
      });

    if (req.headers.authorization !== `Bearer ${token}`) {
      status(res, 401, 'Unauthorized');
      return;
    }
    const route = parsePath(url.pathname);
    if (!route) {
      status(
        res,
        404,
        `the server could not find the requested resource (${method} ${url.pathname})`,
      );
      return;
    }
    const { type, plural, namespace, name } = route;
    const verb: FakeRequest['verb'] =
      method === 'GET'
        ? name
          ? 'get'
          : 'list'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : 'delete';
    const raw = method === 'GET' || method === 'DELETE' ? '' : await readBody(req);
    let body: unknown;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        log(verb, type.kind, name, 400);
        status(res, 400, 'request body is not JSON');
        return;
      }
    }
    const freq: FakeRequest = {
      method,
      verb,
      apiVersion: type.apiVersion,
      kind: type.kind,
      plural,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(contentType ? { contentType } : {}),
    };
    for (const fn of [...interceptors]) {
      const r = await fn(freq);
      if (r && typeof r === 'object') {
        log(verb, type.kind, name, r.status);
        status(
          res,
          r.status,
          r.message ?? `injected ${r.status}`,
          { ...(name ? { name } : {}), kind: plural },
          r.reason,
        );
        return;
      }
    }
    const reply = (code: number, payload: unknown) => {
      log(
        verb,
        type.kind,
        name ??
          (isObj(payload) && isObj(payload.metadata)
            ? (payload.metadata.name as string)
            : undefined),
        code,
      );
      send(res, code, payload);
    };
    const fail = (code: number, message: string, n?: string, reason?: string) => {
      log(verb, type.kind, n ?? name, code);
      status(
        res,
        code,
        message,
        { ...((n ?? name) ? { name: n ?? name } : {}), kind: plural },
        reason,
      );
    };
    const ns = type.namespaced ? namespace : undefined;
    const k = name ? key(type.apiVersion, type.kind, ns, name) : '';
    const current = name ? objects.get(k) : undefined;
    const notFound = () => fail(404, `${plural} "${name}" not found`);

    switch (verb) {
      case 'get':
        return current ? reply(200, current) : notFound();
      case 'list': {
        const items = [...objects.values()].filter(
          (o) =>
            o.apiVersion === type.apiVersion &&
            o.kind === type.kind &&
            (ns === undefined || o.metadata.namespace === ns),
        );
        return reply(200, {
          apiVersion: type.apiVersion,
          kind: `${type.kind}List`,
          metadata: { resourceVersion: String(rv) },
          items,
        });
      }
      case 'create': {
        if (!isObj(body) || !isObj(body.metadata) || typeof body.metadata.name !== 'string')
          return fail(422, 'metadata.name is required');
        const n = body.metadata.name;
        if (objects.has(key(type.apiVersion, type.kind, ns, n)))
          return fail(409, `${plural} "${n}" already exists`, n, 'AlreadyExists');
        const o = { ...(body as KubeObject), apiVersion: type.apiVersion, kind: type.kind };
        o.metadata = { ...o.metadata, ...(ns !== undefined ? { namespace: ns } : {}) };
        delete o.metadata.resourceVersion;
        return reply(201, store(o));
      }
      case 'update': {
        if (!current) return notFound();
        if (!isObj(body) || !isObj(body.metadata))
          return fail(422, 'body must be an object with metadata');
        const want = body.metadata.resourceVersion;
        if (want !== undefined && want !== current.metadata.resourceVersion) {
          return fail(
            409,
            `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        }
        const o = { ...(body as KubeObject), apiVersion: type.apiVersion, kind: type.kind };
        o.metadata = { ...o.metadata, name: name!, ...(ns !== undefined ? { namespace: ns } : {}) };
        return reply(200, store(o));
      }
      case 'patch': {
        if (!current) return notFound();
        let patched: KubeObject;
        try {
          if (contentType === 'application/json-patch+json') {
            if (!Array.isArray(body)) return fail(400, 'JSON patch must be an array');
            patched = fjp.applyPatch(clone(current), body as Operation[], true, false).newDocument;
          } else if (
            contentType === 'application/merge-patch+json' ||
            contentType === 'application/strategic-merge-patch+json'
          ) {
            patched = mergePatch(current, body) as KubeObject;
          } else {
            return fail(415, `unsupported patch content type ${contentType}`);
          }
        } catch (err) {
          // the apiserver answers 422 when a JSON patch cannot be applied (including a failed "test" op)
          return fail(
            422,
            `the server rejected our request due to an error in our request: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
        if (patched.metadata?.resourceVersion !== current.metadata.resourceVersion) {
          return fail(
            409,
            `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          );
        }
        patched.metadata = { ...patched.metadata, name: name! };
        return reply(200, store(patched));
      }
      case 'delete': {
        if (!current) return notFound();
        objects.delete(k);
        return reply(200, {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Success',
          details: { name, kind: plural },
        });
      }
    }
  };

  const server = https.createServer({ key: serving.key, cert: serving.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        status(res, 500, `fake-kube-api: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: FakeKubeApi = {
    url,
    ca: ca.cert,
    token,
    requests,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'fake',
            server: url,
            caData: Buffer.from(ca.cert).toString('base64'),
            skipTLSVerify: false,
          },
        ],
        users: [{ name: 'fake', token }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
        currentContext: 'fake',
      });
      return kc;
    },
    target: () => ({ server: url, ca: ca.cert, token, source: 'fake' }),
    connection() {
      return { client: createKubeClient(this.target()) };
    },
    kubeconfigYaml: () =>
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${url}", certificate-authority-data: ${Buffer.from(ca.cert).toString('base64')}}}]`,
        `users: [{name: fake, user: {token: "${token}"}}]`,
        'contexts: [{name: fake, context: {cluster: fake, user: fake}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    put: (obj) => store(obj),
    get: (apiVersion, kind, namespace, name) => {
      const o = objects.get(key(apiVersion, kind, namespace, name));
      return o ? clone(o) : undefined;
    },
    remove: (apiVersion, kind, namespace, name) =>
      objects.delete(key(apiVersion, kind, namespace, name)),
    list: (apiVersion, kind, namespace) =>
      [...objects.values()]
        .filter(
          (o) =>
            o.apiVersion === apiVersion &&
            o.kind === kind &&
            (namespace === undefined || o.metadata.namespace === namespace),
        )
        .map(clone),
    registerType(apiVersion, plural, kind, namespaced) {
      types.set(`${apiVersion}/${plural}`, { apiVersion, kind, namespaced });
    },
    intercept(fn) {
      interceptors.push(fn);
      return () => {
        const i = interceptors.indexOf(fn);
        if (i >= 0) interceptors.splice(i, 1);
      };
    },
    latency(ms, match = () => true) {
      return api.intercept(async (r) => {
        if (match(r)) await new Promise((resolve) => setTimeout(resolve, ms));
      });
    },
    failNext(code, match = () => true, times = 1) {
      let left = times;
      return api.intercept((r) => {
        if (left > 0 && match(r)) {
          left--;
          return { status: code };
        }
        return undefined;
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}
