/**
 * One entry point for the server: the certificate source for settings.certMode.
 *   dev          local CA + localhost cert in settings.certDir (ensureDevCerts)
 *   files        tls.crt/tls.key mounted in settings.certDir, hot-reloaded
 *   certManager  same as files; cert-manager writes the Secret and its cainjector fills the
 *                caBundle (cert-manager.io/inject-ca-from), so nothing is generated here
 *   selfManaged  cert kept in the Secret `<service>-tls`, caBundle patched by us
 * An expired or mismatched pair at start rejects with a CertError whose message says which.
 */
import type { KubeConnection } from '../kube/client.js';
import type { Logger } from 'pino';
import type { Settings } from '../settings/settings.js';
import { ensureDevCerts } from './dev.js';
import { FileCertSource } from './files-source.js';
import type { RotationPolicy } from './rotation.js';
import type { CertPair, CertSource } from './types.js';

export type { CertPair, CertSource } from './types.js';

export interface CertSourceDeps {
  /** selfManaged: the process's API connection (src/kube/client.ts connectKube), required */
  kube?: KubeConnection;
  now?: () => Date;
  /** files modes: backup poll interval */
  pollMs?: number;
  /** selfManaged: re-check interval once ready / while not ready */
  recheckMs?: number;
  retryMs?: number;
  policy?: Partial<RotationPolicy>;
}

class StaticCertSource implements CertSource {
  constructor(private readonly pair: CertPair) {}
  current(): CertPair {
    return this.pair;
  }
  onUpdate(): void {}
  ready(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}

export function selfManagedSecretName(service: string): string {
  return `${service}-tls`;
}

export async function createCertSource(settings: Settings, log: Logger, deps: CertSourceDeps = {}): Promise<CertSource> {
  const { service } = settings;
  switch (settings.certMode) {
    case 'dev': {
      const dev = await ensureDevCerts(settings.certDir);
      log.info({ event: 'tls-dev', ca: dev.caPath, created: dev.created }, `dev certificates ${dev.created ? 'created' : 'reused'}; trust ${dev.caPath}`);
      return new StaticCertSource({ key: dev.key, cert: dev.cert, ca: dev.ca });
    }
    case 'files':
    case 'certManager':
      return FileCertSource.open({
        dir: settings.certDir,
        log,
        ...(deps.pollMs !== undefined ? { pollMs: deps.pollMs } : {}),
        ...(deps.now ? { now: deps.now } : {}),
        expectHosts: [`${service.name}.${service.namespace}.svc`],
      });
    case 'selfManaged': {
      const { SelfManagedCertSource } = await import('./self-managed.js');
      // startServer opens the process's one connection and passes it (src/cli/serve.ts)
      const client = deps.kube?.client;
      if (!client)
        throw new Error(
          `selfManaged certificates need the Kubernetes API: ${deps.kube?.unavailable ?? 'no connection'}`,
        );
      const { caValiditySeconds: caS, servingValiditySeconds: leafS, recheckMs } = settings.tls;
      const lifetimes: Partial<RotationPolicy> = {};
      if (caS !== undefined) lifetimes.caValidityDays = caS / 86400;
      if (leafS !== undefined) lifetimes.servingValidityDays = leafS / 86400;
      // The 30-day renewal margin would renew a short-lived cert on every check: a third of the
      // shortest lifetime instead (cert-manager's renewBefore default ratio).
      const shortest = Math.min(caS ?? Infinity, leafS ?? Infinity);
      if (shortest < Infinity) lifetimes.minRemainingMs = Math.min(30 * 86_400_000, (shortest * 1000) / 3);
      // ...and the previous CA stays in the bundle for a third of the CA's life at most.
      if (caS !== undefined) lifetimes.previousCaGraceMs = Math.min(7 * 86_400_000, (caS * 1000) / 3);
      return SelfManagedCertSource.open({
        kube: client,
        log,
        secretName: selfManagedSecretName(service.name),
        namespace: service.namespace,
        policy: { service: service.name, namespace: service.namespace, ...lifetimes, ...deps.policy },
        webhookConfigs: settings.webhookConfigNames,
        ...(deps.now ? { now: deps.now } : {}),
        recheckMs: deps.recheckMs ?? recheckMs,
        ...(deps.retryMs !== undefined ? { retryMs: deps.retryMs } : {}),
      });
    }
  }
}
