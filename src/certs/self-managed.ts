/**
 * selfManaged mode, the Kubernetes side: keep the serving cert in a Secret shared by all replicas,
 * and the webhook configurations' caBundle equal to the Secret's bundle.
 *
 * Replicas never coordinate except through the apiserver's optimistic concurrency: creation is
 * create-if-absent (POST; 409 AlreadyExists means another replica won, re-read and use theirs),
 * updates carry the resourceVersion they were planned from (409 Conflict: re-read, re-plan).
 * So two replicas starting together end up serving the same cert.
 *
 * RBAC this needs (the chart grants it): secrets get/create/update in the Service's namespace,
 * validating/mutatingwebhookconfigurations get/patch on the configured names.
 */
import { KubeApiError, corePath, type KubeClient } from '../kube/client.js';
import type { Logger } from 'pino';
import { generateWebhookCerts } from './generate.js';
import { PREVIOUS_CA_UNTIL, caBundleOf, planSecret, type RotationPolicy, type SecretMaterial } from './rotation.js';
import { PublishingCertSource } from './publishing.js';
import { certInfo, checkPair, errMsg, parseCert } from './validate.js';

export interface SelfManagedOptions {
  kube: KubeClient;
  log: Logger;
  secretName: string;
  namespace: string;
  policy: RotationPolicy;
  /** names of the Validating/MutatingWebhookConfigurations to keep in sync; '' skips one */
  webhookConfigs: { validating: string; mutating: string };
  now?: () => Date;
  /** re-read the Secret and re-check the caBundle this often once ready (default 5 min) */
  recheckMs?: number;
  /** ...and this often while not ready (default 5 s) */
  retryMs?: number;
  /** false: no timer, the caller drives refresh() (tests) */
  schedule?: boolean;
}

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'gitlab-runner-admission' };

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function unb64(s: string | undefined): string {
  return s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8');
}

/** The fields of a Secret this module reads and writes (core/v1 Secret). */
interface Secret {
  apiVersion?: string;
  kind?: string;
  type?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  data?: Record<string, string>;
}

/** The fields of a Validating/MutatingWebhookConfiguration this module reads. */
interface WebhookConfiguration {
  metadata?: { resourceVersion?: string };
  webhooks?: Array<{ clientConfig?: { caBundle?: string } }>;
}

function fromSecret(s: Secret): SecretMaterial | undefined {
  const d = s.data ?? {};
  const m: SecretMaterial = {
    cert: unb64(d['tls.crt']),
    key: unb64(d['tls.key']),
    caCert: unb64(d['ca.crt']),
    caKey: unb64(d['ca.key']),
    bundle: unb64(d['ca-bundle.crt']),
  };
  const until = s.metadata?.annotations?.[PREVIOUS_CA_UNTIL];
  if (until) m.previousCaUntil = until;
  // An empty Secret (e.g. pre-created by hand or by a chart) is treated as absent content.
  return m.cert || m.key || m.caCert || m.caKey ? m : undefined;
}

function toSecretBody(name: string, namespace: string, m: SecretMaterial, base?: Secret): Secret {
  const annotations = { ...(base?.metadata?.annotations ?? {}) };
  if (m.previousCaUntil) annotations[PREVIOUS_CA_UNTIL] = m.previousCaUntil;
  else delete annotations[PREVIOUS_CA_UNTIL];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: base?.type ?? 'kubernetes.io/tls',
    metadata: {
      ...(base?.metadata ?? {}),
      name,
      namespace,
      labels: { ...(base?.metadata?.labels ?? {}), ...MANAGED_BY },
      annotations,
    },
    data: {
      ...(base?.data ?? {}),
      'tls.crt': b64(m.cert),
      'tls.key': b64(m.key),
      'ca.crt': b64(m.caCert),
      'ca.key': b64(m.caKey),
      'ca-bundle.crt': b64(m.bundle),
    },
  };
}

function status(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

type WebhookKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';

const WEBHOOK_PATHS: Record<WebhookKind, string> = {
  ValidatingWebhookConfiguration:
    '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/',
  MutatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/',
};

export class SelfManagedCertSource extends PublishingCertSource {
  private haveCert = false;
  private bundleOk = false;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly now: () => Date;
  /** the caBundle value (base64) the webhook configurations should carry */
  private wantBundle = '';

  private constructor(private readonly opts: SelfManagedOptions) {
    super({ key: '', cert: '' });
    this.now = opts.now ?? (() => new Date());
  }

  static async open(opts: SelfManagedOptions): Promise<SelfManagedCertSource> {
    const src = new SelfManagedCertSource(opts);
    await src.refresh();
    if (!src.haveCert) {
      // The server still has to start (so /healthz answers and /readyz says why it is not
      // ready): an in-memory cert no apiserver trusts stands in until the Secret can be read.
      const stand = generateWebhookCerts({ service: opts.policy.service, namespace: opts.policy.namespace, now: src.now() });
      src.pair = { key: stand.serving.key, cert: stand.serving.cert };
    }
    if (opts.schedule !== false) src.scheduleNext();
    return src;
  }

  ready(): boolean {
    return this.haveCert && this.bundleOk && !this.closed;
  }

  /** Cert and caBundle state, for /readyz details and tests. */
  state(): { haveCert: boolean; bundleOk: boolean; caBundle: string } {
    return { haveCert: this.haveCert, bundleOk: this.bundleOk, caBundle: this.wantBundle };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.chain.catch(() => undefined);
  }

  /** Read (create, renew) the Secret, apply it, then sync the caBundles. Never throws. */
  refresh(): Promise<void> {
    this.chain = this.chain.then(() => this.doRefresh()).catch(() => undefined);
    return this.chain;
  }

  private scheduleNext(): void {
    if (this.closed) return;
    const ms = this.ready() ? (this.opts.recheckMs ?? 300_000) : (this.opts.retryMs ?? 5_000);
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.scheduleNext());
    }, ms);
    this.timer.unref();
  }

  private async doRefresh(): Promise<void> {
    if (this.closed) return;
    const { log } = this.opts;
    let material: SecretMaterial | undefined;
    try {
      material = await this.syncSecret();
    } catch (err) {
      log.error(
        { event: 'tls-secret-sync-failed', secret: `${this.opts.namespace}/${this.opts.secretName}`, err: errMsg(err) },
        `cannot read or write Secret ${this.opts.namespace}/${this.opts.secretName}: ${errMsg(err)}`,
      );
    }
    if (material) this.apply(material);
    if (this.wantBundle) {
      try {
        this.bundleOk = await this.syncWebhookBundles(this.wantBundle);
      } catch (err) {
        // Keep the last verdict: an apiserver hiccup must not flap readiness of a working webhook.
        log.error({ event: 'tls-cabundle-sync-failed', err: errMsg(err) }, `cannot check webhook caBundle: ${errMsg(err)}`);
      }
    }
  }

  private async syncSecret(): Promise<SecretMaterial> {
    const { secretName: name, namespace, policy, log } = this.opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      let existing: Secret | undefined;
      try {
        existing = (await this.opts.kube.request('GET', corePath(namespace, 'secrets', name))) as Secret;
      } catch (err) {
        if (status(err) !== 404) throw err;
      }
      const current = existing ? fromSecret(existing) : undefined;
      const plan = planSecret(current, this.now(), policy);
      if (plan.action === 'keep') return plan.material;
      try {
        if (!existing) {
          await this.opts.kube.request('POST', corePath(namespace, 'secrets'), { body: toSecretBody(name, namespace, plan.material) });
        } else {
          // resourceVersion from the read: a concurrent writer makes this a 409, never a lost update
          await this.opts.kube.request('PUT', corePath(namespace, 'secrets', name), { body: toSecretBody(name, namespace, plan.material, existing) });
        }
        log.info({ event: 'tls-secret-written', secret: `${namespace}/${name}`, reason: plan.reason }, `Secret ${namespace}/${name} written: ${plan.reason}`);
        return plan.material;
      } catch (err) {
        if (status(err) !== 409) throw err;
        log.info({ event: 'tls-secret-conflict', secret: `${namespace}/${name}` }, 'another replica wrote the Secret first; using theirs');
      }
    }
    throw new Error('the Secret kept changing under us (5 conflicts in a row)');
  }

  private apply(m: SecretMaterial): void {
    const { log } = this.opts;
    this.wantBundle = caBundleOf(m);
    if (this.haveCert && m.cert === this.pair.cert && m.key === this.pair.key) return;
    try {
      checkPair({ cert: m.cert, key: m.key }, { now: this.now(), ca: m.caCert });
    } catch (err) {
      // planSecret only hands out pairs it checked; this guards against a hand-edited Secret.
      log.error({ event: 'tls-secret-invalid', err: errMsg(err) }, `Secret holds an unusable certificate, keeping the current one: ${errMsg(err)}`);
      return;
    }
    this.haveCert = true;
    const info = certInfo(parseCert(m.cert));
    log.info({ event: 'tls-loaded', serial: info.serial, notAfter: info.notAfter.toISOString() }, 'serving certificate loaded from Secret');
    this.publish({ key: m.key, cert: m.cert, ca: m.bundle }, log);
  }

  /** true when every configured webhook configuration carries `bundle` on all its webhooks */
  private async syncWebhookBundles(bundle: string): Promise<boolean> {
    const targets: Array<[WebhookKind, string]> = [];
    if (this.opts.webhookConfigs.validating) targets.push(['ValidatingWebhookConfiguration', this.opts.webhookConfigs.validating]);
    if (this.opts.webhookConfigs.mutating) targets.push(['MutatingWebhookConfiguration', this.opts.webhookConfigs.mutating]);
    let ok = true;
    for (const [kind, name] of targets) ok = (await this.syncOne(kind, name, bundle)) && ok;
    return ok;
  }

  private async syncOne(kind: WebhookKind, name: string, bundle: string): Promise<boolean> {
    const { log } = this.opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      const url = WEBHOOK_PATHS[kind] + encodeURIComponent(name);
      let obj: WebhookConfiguration;
      try {
        obj = ((await this.opts.kube.request('GET', url)) ?? {}) as WebhookConfiguration;
      } catch (err) {
        if (status(err) === 404) {
          log.warn({ event: 'tls-webhook-config-missing', kind, name }, `${kind} ${name} not found; not ready until it exists`);
          return false;
        }
        throw err;
      }
      const webhooks = obj.webhooks ?? [];
      const ops: object[] = [];
      webhooks.forEach((w, i) => {
        if (w.clientConfig?.caBundle !== bundle) ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle });
      });
      if (ops.length === 0) return true;
      // The resourceVersion makes the index-based paths safe: if anyone changed the object since
      // our read (e.g. reordered webhooks), the patch is a 409 and we re-read.
      const body = [{ op: 'replace', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion }, ...ops];
      try {
        await this.opts.kube.request('PATCH', url, { body, contentType: 'application/json-patch+json' });
        log.info({ event: 'tls-cabundle-patched', kind, name, webhooks: ops.length }, `${kind} ${name}: caBundle updated`);
        return true;
      } catch (err) {
        if (status(err) !== 409) throw err;
      }
    }
    return false;
  }
}
