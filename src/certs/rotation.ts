/**
 * selfManaged mode, the decisions: given what the Secret holds and the time, what should it
 * hold? Pure except for key generation; the Kubernetes side lives in self-managed.ts.
 *
 * Secret layout (type kubernetes.io/tls, so `kubectl get secret -o yaml` reads as usual):
 *   tls.crt        serving cert, followed by the cross-signed CA while a CA rotation is in progress
 *   tls.key        its key
 *   ca.crt/ca.key  the CA that signs serving certs
 *   ca-bundle.crt  every CA the webhook configurations must trust (the caBundle)
 * annotation PREVIOUS_CA_UNTIL: after a CA rotation, when the previous CA leaves the bundle.
 */
import { X509Certificate } from 'node:crypto';
import {
  DAY_MS,
  crossSignCa,
  generateCa,
  issueServingForService,
  serviceDnsNames,
  toCaBundle,
  type PemPair,
} from './generate.js';
import { dnProblem } from './names.js';
import { certInfo, checkPair, errMsg, splitPemCerts } from './validate.js';

export const PREVIOUS_CA_UNTIL = 'gitlab-runner-admission.gitlab.com/previous-ca-until';

export interface SecretMaterial {
  cert: string;
  key: string;
  caCert: string;
  caKey: string;
  bundle: string;
  /** ISO time after which the previous CA and the cross-signed cert are dropped */
  previousCaUntil?: string;
}

export interface RotationPolicy {
  service: string;
  namespace: string;
  extraDns?: string[];
  /**
   * Renew once this fraction of a certificate's life has passed (cert-manager's default
   * renewBefore is 1/3 of the duration, i.e. renewal at 2/3:
   * https://cert-manager.io/docs/usage/certificate/#reissuance-triggered-by-expiry-renewal).
   */
  renewAtFraction?: number;
  /** ...or when less than this remains, whichever comes first */
  minRemainingMs?: number;
  /**
   * How long the previous CA stays in the bundle after a rotation: long enough for every replica
   * to re-read the Secret and for the apiserver to see the new caBundle.
   */
  previousCaGraceMs?: number;
  caValidityDays?: number;
  servingValidityDays?: number;
}

export type RotationPlan = { action: 'keep'; material: SecretMaterial } | { action: 'write'; material: SecretMaterial; reason: string };

const DEFAULTS = { renewAtFraction: 2 / 3, minRemainingMs: 30 * DAY_MS, previousCaGraceMs: 7 * DAY_MS };

export function renewalDue(notBefore: Date, notAfter: Date, now: Date, policy: RotationPolicy = { service: '', namespace: '' }): boolean {
  const frac = policy.renewAtFraction ?? DEFAULTS.renewAtFraction;
  const minRemaining = policy.minRemainingMs ?? DEFAULTS.minRemainingMs;
  const life = notAfter.getTime() - notBefore.getTime();
  const renewAt = Math.min(notBefore.getTime() + life * frac, notAfter.getTime() - minRemaining);
  return now.getTime() >= renewAt;
}

function requiredHosts(policy: RotationPolicy): string[] {
  return [...serviceDnsNames(policy.service, policy.namespace), ...(policy.extraDns ?? [])];
}

function issue(ca: PemPair, now: Date, policy: RotationPolicy): PemPair {
  return issueServingForService(ca, policy.service, policy.namespace, {
    dns: policy.extraDns,
    now,
    validityDays: policy.servingValidityDays,
  });
}

function fresh(now: Date, policy: RotationPolicy): SecretMaterial {
  const ca = generateCa({ now, validityDays: policy.caValidityDays });
  const leaf = issue(ca, now, policy);
  return { cert: leaf.cert, key: leaf.key, caCert: ca.cert, caKey: ca.key, bundle: ca.cert.trim() + '\n' };
}

/** Why the CA cannot sign anymore, or undefined when it can. */
function caProblem(m: SecretMaterial, now: Date): string | undefined {
  try {
    const x = new X509Certificate(m.caCert);
    if (!x.ca) return 'ca.crt is not a CA certificate';
    // Written by a version whose CA name Go cannot parse: no apiserver could ever trust it.
    const dn = dnProblem(m.caCert);
    if (dn) return `ca.crt ${dn}`;
    checkPair({ cert: m.caCert, key: m.caKey }, { now, labels: { cert: 'ca.crt', key: 'ca.key' } });
    return undefined;
  } catch (err) {
    return errMsg(err);
  }
}

function pem(s: string): string {
  return s.trim() + '\n';
}

function joinPems(pems: string[]): string {
  return pems.map(pem).join('');
}

/**
 * Decide the Secret's next content. `current` undefined means there is no Secret yet.
 * The result of a 'write' is complete and self-consistent; apply it as a whole.
 */
export function planSecret(current: SecretMaterial | undefined, now: Date, policy: RotationPolicy): RotationPlan {
  if (!current) return { action: 'write', material: fresh(now, policy), reason: 'created' };
  const problem = caProblem(current, now);
  if (problem) return { action: 'write', material: fresh(now, policy), reason: `new CA: the stored one is unusable (${problem})` };

  const ca = { cert: current.caCert, key: current.caKey };
  const caInfo = certInfo(new X509Certificate(current.caCert));
  if (renewalDue(caInfo.notBefore, caInfo.notAfter, now, policy)) {
    const next = generateCa({ now, validityDays: policy.caValidityDays });
    const cross = crossSignCa(next, ca, { now });
    const leaf = issue(next, now, policy);
    const until = new Date(now.getTime() + (policy.previousCaGraceMs ?? DEFAULTS.previousCaGraceMs));
    return {
      action: 'write',
      reason: `CA rotation: the CA expires on ${caInfo.notAfter.toISOString()}`,
      material: {
        cert: joinPems([leaf.cert, cross]),
        key: leaf.key,
        caCert: next.cert,
        caKey: next.key,
        // previous first: any order works for the apiserver; this one reads as history
        bundle: joinPems([current.caCert, next.cert]),
        previousCaUntil: until.toISOString(),
      },
    };
  }

  let m: SecretMaterial = { ...current };
  const reasons: string[] = [];
  const [leafPem, ...chainRest] = splitPemCerts(m.cert);
  let chain = chainRest;

  if (m.previousCaUntil !== undefined) {
    const until = new Date(m.previousCaUntil);
    if (!(until.getTime() > now.getTime())) {
      chain = [];
      m = { ...m, bundle: pem(m.caCert), cert: pem(leafPem ?? m.cert) };
      delete m.previousCaUntil;
      reasons.push('previous CA retired from the bundle');
    }
  }

  let leafOk: string | undefined;
  try {
    const info = checkPair({ cert: leafPem ?? '', key: m.key }, { now, ca: m.caCert, hosts: requiredHosts(policy) });
    if (renewalDue(info.notBefore, info.notAfter, now, policy)) leafOk = `serving cert renewal due (expires ${info.notAfter.toISOString()})`;
  } catch (err) {
    leafOk = errMsg(err);
  }
  if (leafOk !== undefined) {
    const leaf = issue(ca, now, policy);
    m = { ...m, cert: joinPems([leaf.cert, ...chain]), key: leaf.key };
    reasons.push(leafOk);
  }

  const bundleCerts = splitPemCerts(m.bundle);
  const caFp = new X509Certificate(m.caCert).fingerprint256;
  if (!bundleCerts.some((p) => safeFp(p) === caFp)) {
    m = { ...m, bundle: joinPems([...bundleCerts, m.caCert]) };
    reasons.push('CA missing from the bundle');
  }

  return reasons.length ? { action: 'write', material: m, reason: reasons.join('; ') } : { action: 'keep', material: m };
}

function safeFp(p: string): string | undefined {
  try {
    return new X509Certificate(p).fingerprint256;
  } catch {
    return undefined;
  }
}

/** The caBundle value for the webhook configurations. */
export function caBundleOf(m: SecretMaterial): string {
  return toCaBundle(...splitPemCerts(m.bundle));
}
