/**
 * Checks a serving cert/key pair before it is used, with one-line messages an operator can act
 * on. Uses Node's X509Certificate (OpenSSL) so what we check is what the TLS stack will use.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export class CertError extends Error {
  override name = 'CertError';
}

export interface CertInfo {
  subject: string;
  serial: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ips: string[];
  isCa: boolean;
}

export interface CheckOptions {
  now?: Date;
  /** PEM of one or more CA certs the serving cert must chain to (directly) */
  ca?: string;
  /** DNS names or IPs the cert must cover (SAN only: the apiserver has no CN fallback) */
  hosts?: string[];
  /** names used in messages; default tls.crt / tls.key / ca.crt */
  labels?: { cert?: string; key?: string; ca?: string };
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPemCerts(pem: string): string[] {
  return pem.match(PEM_CERT_RE) ?? [];
}

export function parseCert(pem: string, label = 'tls.crt'): X509Certificate {
  const first = splitPemCerts(pem)[0];
  if (!first) throw new CertError(`${label} contains no PEM certificate`);
  try {
    return new X509Certificate(first);
  } catch (err) {
    throw new CertError(`${label} is not a valid certificate: ${errMsg(err)}`);
  }
}

export function parseKey(pem: string, label = 'tls.key'): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new CertError(`${label} is not a valid private key: ${errMsg(err)}`);
  }
}

export function certInfo(x: X509Certificate): CertInfo {
  const dnsNames: string[] = [];
  const ips: string[] = [];
  // Node renders SANs as "DNS:a, IP Address:1.2.3.4"; our certs never contain commas in names.
  for (const part of (x.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ips.push(part.slice(11));
  }
  return {
    subject: x.subject,
    serial: x.serialNumber,
    fingerprint256: x.fingerprint256,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    dnsNames,
    ips,
    isCa: x.ca,
  };
}

function coversHost(x: X509Certificate, host: string): boolean {
  // subject: 'never' = no CN fallback, matching what Go's crypto/x509 (the apiserver) does.
  if (/^[\d.]+$/.test(host) || host.includes(':')) return x.checkIP(host) !== undefined;
  return x.checkHost(host, { subject: 'never' }) !== undefined;
}

/**
 * Throws CertError with a one-line reason when the pair must not be served; returns the
 * serving cert's details otherwise.
 */
export function checkPair(pair: { key: string; cert: string }, opts: CheckOptions = {}): CertInfo {
  const L = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', ...opts.labels };
  const now = opts.now ?? new Date();
  const x = parseCert(pair.cert, L.cert);
  const key = parseKey(pair.key, L.key);
  if (!x.checkPrivateKey(key)) throw new CertError(`${L.key} does not match ${L.cert}`);
  const info = certInfo(x);
  if (now < info.notBefore) throw new CertError(`${L.cert} is not valid before ${info.notBefore.toISOString()}`);
  if (now > info.notAfter) throw new CertError(`${L.cert} expired on ${info.notAfter.toISOString()}`);
  for (const h of opts.hosts ?? []) {
    if (!coversHost(x, h)) {
      const sans = [...info.dnsNames, ...info.ips].join(', ') || 'none';
      throw new CertError(`${L.cert} does not cover ${h} (SANs: ${sans})`);
    }
  }
  if (opts.ca !== undefined) {
    const cas = splitPemCerts(opts.ca);
    if (cas.length === 0) throw new CertError(`${L.ca} contains no PEM certificate`);
    const issuer = cas
      .map((p) => new X509Certificate(p))
      .find((c) => x.checkIssued(c) && x.verify(c.publicKey));
    if (!issuer) throw new CertError(`${L.cert} is not signed by ${L.ca}`);
    const ci = certInfo(issuer);
    if (now > ci.notAfter) throw new CertError(`${L.ca} expired on ${ci.notAfter.toISOString()}`);
  }
  return info;
}

/** Same as checkPair, as a result value for callers that keep going (hot reload). */
export function validatePair(
  pair: { key: string; cert: string },
  opts: CheckOptions = {},
): { ok: true; info: CertInfo } | { ok: false; error: string } {
  try {
    return { ok: true, info: checkPair(pair, opts) };
  } catch (err) {
    return { ok: false, error: errMsg(err) };
  }
}

export interface LoadedPair {
  key: string;
  cert: string;
  ca?: string;
}

/** Reads tls.crt, tls.key and (when present) ca.crt from dir. Missing ca.crt is not an error. */
export async function readPairFromDir(dir: string): Promise<LoadedPair> {
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(path.join(dir, name), 'utf8');
    } catch (err) {
      throw new CertError(`cannot read ${name} in ${dir}: ${(err as NodeJS.ErrnoException).code ?? errMsg(err)}`);
    }
  };
  const [cert, key] = [await read('tls.crt'), await read('tls.key')];
  let ca: string | undefined;
  try {
    ca = await readFile(path.join(dir, 'ca.crt'), 'utf8');
  } catch {
    ca = undefined;
  }
  return { key, cert, ...(ca ? { ca } : {}) };
}

export function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
