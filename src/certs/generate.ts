/**
 * Certificate generation with node-forge. Pure apart from randomness and key generation: the
 * clock is an input (`now`) so callers and tests decide what "now" is.
 *
 * Choices, and where they come from:
 * - RSA 2048: the default key of cert-manager's Certificate (`spec.privateKey.size` defaults to
 *   2048 for RSA, https://cert-manager.io/docs/reference/api-docs/#cert-manager.io/v1.CertificatePrivateKey)
 *   ("defaults to 2048 if not specified"); every apiserver accepts it.
 * - Serial numbers: 16 random bytes, top bit cleared so the DER INTEGER stays positive
 *   (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum BR §7.1: at least 64 bits of CSPRNG output).
 * - CA validity 10 years, serving validity 1 year, notBefore backdated 1 hour: the defaults of
 *   open-policy-agent/cert-controller, the rotator Gatekeeper uses for its own webhook
 *   (pkg/rotator/rotator.go: defaultCaCertValidityDuration = 10y, defaultServerCertValidityDuration = 1y,
 *   `begin := now.Add(-1 * time.Hour)`). A long-lived CA keeps caBundle changes rare; a one-year leaf
 *   ages a leaked key out and makes renewal a routine event rather than a once-a-decade surprise.
 * - The apiserver ignores the CN and matches `<svc>.<ns>.svc` against the SANs only
 *   (Go crypto/x509 dropped the CN fallback in Go 1.15), so the DNS SANs are what matters.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { dnAttribute } from './names.js';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_VALIDITY_DAYS = 3650;
export const SERVING_VALIDITY_DAYS = 365;
/** Backdate notBefore so a peer whose clock lags a little still accepts a fresh cert. */
const BACKDATE_MS = 60 * 60 * 1000;
export const RSA_BITS = 2048;

export interface PemPair {
  /** PEM private key (PKCS#8) */
  key: string;
  /** PEM certificate */
  cert: string;
}

export interface CaOptions {
  commonName?: string;
  now?: Date;
  validityDays?: number | undefined;
}

export interface ServingOptions {
  commonName: string;
  dnsNames: string[];
  ips?: string[] | undefined;
  now?: Date | undefined;
  validityDays?: number | undefined;
}

/**
 * Node's native keygen (OpenSSL) instead of forge's pure-JS one: forge falls back to pure JS
 * (seconds per 2048-bit key) whenever it cannot detect node crypto, e.g. with a custom prng.
 */
function newRsaKey(): { privatePem: string; forgePrivate: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    privatePem: privateKey,
    forgePrivate: forge.pki.privateKeyFromPem(privateKey),
    forgePublic: forge.pki.publicKeyFromPem(publicKey),
  };
}

export function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive and never a leading zero octet (DER minimal encoding)
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, now: Date, days: number): void {
  // At most a tenth of the lifetime: an hour's backdate would make a minutes-long test cert
  // look two-thirds used (renewal due) the moment it is issued.
  cert.validity.notBefore = new Date(now.getTime() - Math.min(BACKDATE_MS, (days * DAY_MS) / 10));
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

export function generateCa(opts: CaOptions = {}): PemPair {
  const now = opts.now ?? new Date();
  const k = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.forgePublic;
  cert.serialNumber = randomSerialHex();
  validity(cert, now, opts.validityDays ?? CA_VALIDITY_DAYS);
  // A timestamp in the CN makes old and new CAs distinguishable in the bundle during rotation.
  // No '@' (or other non-PrintableString characters) in the default: see names.ts.
  const attrs = [dnAttribute('commonName', opts.commonName ?? `gitlab-runner-admission-ca-${Math.floor(now.getTime() / 1000)}`)];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    // pathLen 1, not 0: during a CA rotation the next CA is cross-signed by this one and sits
    // between it and the leaf (see crossSignCa); a pathLen of 0 would forbid that chain.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 1, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(k.forgePrivate, forge.md.sha256.create());
  return { key: k.privatePem, cert: certPem(cert) };
}

/**
 * A certificate for `next`'s key and subject, issued by `prev`. Served after the leaf while a CA
 * rotation is in progress, it lets a client that still trusts only `prev` build
 * leaf -> next (cross-signed) -> prev, while a client that already trusts `next` stops at its
 * own self-signed copy of `next` (same subject and key). So there is no moment where either the
 * apiserver's old caBundle or its new one fails to verify the serving cert. The same technique
 * Let's Encrypt used to move from DST Root CA X3 to ISRG Root X1
 * (https://letsencrypt.org/certificates/, "cross-signed").
 */
export function crossSignCa(next: PemPair, prev: PemPair, opts: { now?: Date } = {}): string {
  const now = opts.now ?? new Date();
  const nextCert = forge.pki.certificateFromPem(next.cert);
  const prevCert = forge.pki.certificateFromPem(prev.cert);
  const prevKey = forge.pki.privateKeyFromPem(prev.key);
  const cert = forge.pki.createCertificate();
  cert.publicKey = nextCert.publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(Math.min(nextCert.validity.notAfter.getTime(), prevCert.validity.notAfter.getTime()));
  cert.setSubject(nextCert.subject.attributes);
  cert.setIssuer(prevCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: prevCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(prevKey, forge.md.sha256.create());
  return certPem(cert);
}

export function generateServingCert(ca: PemPair, opts: ServingOptions): PemPair {
  const now = opts.now ?? new Date();
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const k = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = k.forgePublic;
  cert.serialNumber = randomSerialHex();
  validity(cert, now, opts.validityDays ?? SERVING_VALIDITY_DAYS);
  // Never outlive the issuer: a leaf valid past its CA fails verification after the CA expires anyway.
  if (cert.validity.notAfter > caCert.validity.notAfter) cert.validity.notAfter = caCert.validity.notAfter;
  cert.setSubject([dnAttribute('commonName', opts.commonName)]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames: Array<{ type: number; value?: string; ip?: string }> = [];
  for (const d of uniq(opts.dnsNames)) altNames.push({ type: 2, value: d });
  for (const ip of uniq(opts.ips ?? [])) {
    if (!isIP(ip)) throw new Error(`not an IP address: "${ip}"`);
    altNames.push({ type: 7, ip });
  }
  if (altNames.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP');
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { key: k.privatePem, cert: certPem(cert) };
}

/** forge writes CRLF PEM; LF keeps files, Secrets and caBundle byte-identical to what openssl/kubectl produce. */
function certPem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

function uniq(xs: string[]): string[] {
  return [...new Set(xs.map((x) => x.trim()).filter(Boolean))];
}

/** The names the apiserver may use for a Service-backed webhook (it dials `<svc>.<ns>.svc`). */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export interface WebhookCertsInput {
  service: string;
  namespace: string;
  dns?: string[];
  ips?: string[];
  now?: Date;
  caValidityDays?: number;
  servingValidityDays?: number;
}

export interface WebhookCerts {
  ca: PemPair;
  serving: PemPair;
  /** base64 of the CA PEM: the value for `webhooks[*].clientConfig.caBundle` */
  caBundle: string;
}

export function generateWebhookCerts(input: WebhookCertsInput): WebhookCerts {
  const now = input.now ?? new Date();
  const ca = generateCa({ now, validityDays: input.caValidityDays });
  const serving = issueServingForService(ca, input.service, input.namespace, {
    dns: input.dns,
    ips: input.ips,
    now,
    validityDays: input.servingValidityDays,
  });
  return { ca, serving, caBundle: toCaBundle(ca.cert) };
}

export function issueServingForService(
  ca: PemPair,
  service: string,
  namespace: string,
  opts: { dns?: string[] | undefined; ips?: string[] | undefined; now?: Date; validityDays?: number | undefined } = {},
): PemPair {
  return generateServingCert(ca, {
    commonName: `${service}.${namespace}.svc`,
    dnsNames: [...serviceDnsNames(service, namespace), ...(opts.dns ?? [])],
    ips: opts.ips,
    now: opts.now,
    validityDays: opts.validityDays,
  });
}

export function toCaBundle(...caPems: string[]): string {
  return Buffer.from(caPems.map((p) => p.trim() + '\n').join('')).toString('base64');
}
