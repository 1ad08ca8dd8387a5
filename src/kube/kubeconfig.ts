/**
 * Where the server reaches the Kubernetes API and with which credentials: the pod's
 * ServiceAccount in a cluster, else a kubeconfig file. The precedence is client-go's and
 * @kubernetes/client-node's `loadFromDefault`: $KUBECONFIG (a path list, merged), then the
 * in-cluster ServiceAccount, then ~/.kube/config.
 *
 * The server does not load @kubernetes/client-node for this: its generated API modules load as
 * one graph and cost ~50 MB of RSS at rest (README, "Versions"), a quarter of the replica's
 * memory budget, for the five calls the server makes (src/kube/client.ts). The CLI's `scan`,
 * which lists many kinds, still uses client-node.
 *
 * Kubeconfig format: https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/
 * In-cluster files: https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { isRecord } from '../util/is-record.js';

/** client.authentication.k8s.io ExecConfig: a credential plugin (EKS, GKE, AKS, OIDC logins). */
export interface ExecCredentialPlugin {
  command: string;
  args: string[];
  env: Record<string, string>;
  apiVersion: string;
  /** the directory relative `command` paths resolve against (the kubeconfig's) */
  dir?: string;
}

/** Everything needed to open an authenticated connection to one API server. */
export interface KubeTarget {
  /** https://host:port[/prefix] */
  server: string;
  /** PEM bundle the server certificate must chain to; undefined = the system roots */
  ca?: string;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  /** client certificate and key (PEM) */
  cert?: string;
  key?: string;
  token?: string;
  /** re-read (bound ServiceAccount tokens rotate; the kubelet rewrites the file) */
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecCredentialPlugin;
  /** the context's namespace, if any */
  namespace?: string;
  /** where this came from, for log lines: a file path or 'in-cluster' */
  source: string;
}

export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

interface Named {
  name: string;
  body: Record<string, unknown>;
  dir: string;
}

interface Merged {
  currentContext?: string | undefined;
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function named(list: unknown, field: string, dir: string, into: Map<string, Named>): void {
  if (!Array.isArray(list)) return;
  for (const item of list) {
    if (!isRecord(item)) continue;
    const name = typeof item.name === 'string' ? item.name : undefined;
    const body = item[field];
    // kubectl's merge rule: the first file that defines a name wins
    if (name !== undefined && isRecord(body) && !into.has(name))
      into.set(name, { name, body, dir });
  }
}

/** false: the file does not exist (client-go skips those in a $KUBECONFIG list) */
async function parseFile(file: string, into: Merged): Promise<boolean> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new KubeConfigError(
      `cannot read kubeconfig ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  // Only a kubeconfig needs a YAML parser; the in-cluster path never loads one.
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw new KubeConfigError(`kubeconfig ${file} is not valid YAML`);
  }
  if (doc === null || doc === undefined) return true;
  if (!isRecord(doc)) throw new KubeConfigError(`kubeconfig ${file} is not a mapping`);
  const dir = path.dirname(path.resolve(file));
  into.currentContext ??= str(doc['current-context']);
  named(doc.clusters, 'cluster', dir, into.clusters);
  named(doc.users, 'user', dir, into.users);
  named(doc.contexts, 'context', dir, into.contexts);
  return true;
}

/** A `*-data` field (base64) or the file its sibling names, relative to the kubeconfig's folder. */
function material(
  body: Record<string, unknown>,
  field: string,
  dir: string,
  what: string,
): string | undefined {
  const data = str(body[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  const file = str(body[field]);
  if (!file) return undefined;
  try {
    return readFileSync(path.resolve(dir, file), 'utf8');
  } catch (err) {
    throw new KubeConfigError(
      `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

function execPlugin(v: unknown, dir: string): ExecCredentialPlugin | undefined {
  if (!isRecord(v)) return undefined;
  const command = str(v.command);
  if (!command) throw new KubeConfigError('the user exec plugin has no command');
  const env: Record<string, string> = {};
  if (Array.isArray(v.env))
    for (const e of v.env)
      if (isRecord(e) && typeof e.name === 'string' && typeof e.value === 'string')
        env[e.name] = e.value;
  return {
    command,
    args: Array.isArray(v.args) ? v.args.filter((a): a is string => typeof a === 'string') : [],
    env,
    apiVersion: str(v.apiVersion) ?? 'client.authentication.k8s.io/v1',
    dir,
  };
}

/** The target of a merged kubeconfig's context (its current one, unless named). */
function targetOf(m: Merged, source: string, contextName?: string): KubeTarget {
  const ctxName = contextName ?? m.currentContext;
  if (!ctxName) throw new KubeConfigError(`kubeconfig ${source} has no current-context`);
  const ctx = m.contexts.get(ctxName);
  if (!ctx) throw new KubeConfigError(`kubeconfig ${source}: context "${ctxName}" not found`);
  const clusterName = str(ctx.body.cluster);
  const cluster = clusterName ? m.clusters.get(clusterName) : undefined;
  if (!cluster)
    throw new KubeConfigError(
      `kubeconfig ${source}: cluster "${clusterName ?? ''}" of context "${ctxName}" not found`,
    );
  const c = cluster.body;
  const server = str(c.server);
  if (!server)
    throw new KubeConfigError(`kubeconfig ${source}: cluster "${cluster.name}" has no server`);
  if (str(c['proxy-url']))
    throw new KubeConfigError(
      `kubeconfig ${source}: cluster "${cluster.name}" sets proxy-url, which the webhook's API client does not support`,
    );
  const t: KubeTarget = { server: server.replace(/\/+$/, ''), source };
  const ca = material(c, 'certificate-authority', cluster.dir, 'certificate authority');
  if (ca) t.ca = ca;
  if (c['insecure-skip-tls-verify'] === true) t.insecureSkipTLSVerify = true;
  const sni = str(c['tls-server-name']);
  if (sni) t.tlsServerName = sni;
  const ns = str(ctx.body.namespace);
  if (ns) t.namespace = ns;

  const userName = str(ctx.body.user);
  const user = userName ? m.users.get(userName) : undefined;
  if (!user) return t; // anonymous, as kubectl allows
  const u = user.body;
  const cert = material(u, 'client-certificate', user.dir, 'client certificate');
  const key = material(u, 'client-key', user.dir, 'client key');
  if (cert) t.cert = cert;
  if (key) t.key = key;
  const token = str(u.token);
  const tokenFile = str(u.tokenFile);
  if (token) t.token = token;
  else if (tokenFile) t.tokenFile = path.resolve(user.dir, tokenFile);
  const username = str(u.username);
  if (username) {
    t.username = username;
    t.password = str(u.password) ?? '';
  }
  const exec = execPlugin(u.exec, user.dir);
  if (exec) t.exec = exec;
  if (isRecord(u['auth-provider']))
    // Removed from client-go in Kubernetes 1.26 (KEP-2395); every provider has an exec plugin now.
    throw new KubeConfigError(
      `kubeconfig ${source}: user "${user.name}" uses auth-provider "${str(u['auth-provider'].name) ?? '?'}", which Kubernetes 1.26 removed; use its exec credential plugin`,
    );
  return t;
}

/** Merge kubeconfig files as kubectl does and return the target of the current (or named) context. */
export async function targetFromFiles(files: string[], context?: string): Promise<KubeTarget> {
  const m: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  let read = 0;
  for (const f of files) if (await parseFile(f, m)) read++;
  if (read === 0)
    throw new KubeConfigError(`kubeconfig ${files.join(path.delimiter)} does not exist`);
  return targetOf(m, files.join(path.delimiter), context);
}

/** The pod's ServiceAccount: the API server Service's env vars and the projected token volume. */
export function inClusterTarget(
  env: NodeJS.ProcessEnv = process.env,
  dir: string = SERVICEACCOUNT_DIR,
): KubeTarget {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new KubeConfigError(
      'in-cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set',
    );
  const t: KubeTarget = {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    tokenFile: path.join(dir, 'token'),
    source: 'in-cluster',
  };
  try {
    t.ca = readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  } catch (err) {
    throw new KubeConfigError(
      `in-cluster: cannot read ${path.join(dir, 'ca.crt')}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    const ns = readFileSync(path.join(dir, 'namespace'), 'utf8').trim();
    if (ns) t.namespace = ns;
  } catch {
    // the namespace file is informative only
  }
  return t;
}

/**
 * The target the process uses: $KUBECONFIG, else the in-cluster ServiceAccount, else
 * ~/.kube/config. Throws a KubeConfigError whose message says what is missing.
 */
export async function loadKubeTarget(
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir: string = SERVICEACCOUNT_DIR,
): Promise<KubeTarget> {
  const list = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (list.length > 0) return targetFromFiles(list);
  if (existsSync(path.join(serviceAccountDir, 'token')))
    return inClusterTarget(env, serviceAccountDir);
  const home = path.join(env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return targetFromFiles([home]);
  throw new KubeConfigError(
    'no kubeconfig: $KUBECONFIG is unset, there is no ServiceAccount token and no ~/.kube/config',
  );
}
