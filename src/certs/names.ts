/**
 * Distinguished-name attributes every X.509 parser accepts. node-forge encodes an attribute as
 * PrintableString unless told otherwise, whatever its characters; OpenSSL and Node read such a
 * certificate anyway, but Go's crypto/x509 (kube-apiserver) refuses it ("x509: invalid
 * RDNSequence: invalid attribute value: invalid PrintableString"), so a caBundle holding it makes
 * every webhook call fail. PrintableString's alphabet is X.680 §41.4 (Table 10): A-Z a-z 0-9
 * space ' ( ) + , - . / : = ? — Go checks exactly that set (encoding/asn1 isPrintable, without
 * the '*' and '&' leniencies it applies only when parsing). Anything else goes out as UTF8String.
 */
import forge from 'node-forge';

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
// eslint-disable-next-line no-control-regex
const IA5 = /^[\x00-\x7f]*$/;

export const TAG = { UTF8: 12, PRINTABLE: 19, IA5: 22 } as const;

export function isPrintableString(s: string): boolean {
  return PRINTABLE.test(s);
}

/** An attribute for forge's setSubject/setIssuer whose ASN.1 type fits its characters. */
export function dnAttribute(name: string, value: string): forge.pki.CertificateField {
  const tag = isPrintableString(value) ? forge.asn1.Type.PRINTABLESTRING : forge.asn1.Type.UTF8;
  return { name, value, valueTagClass: tag as unknown as forge.asn1.Class };
}

/** Why a value may not be carried by this ASN.1 string tag, or undefined when it may. */
export function tagProblem(tag: number, value: string): string | undefined {
  if (tag === TAG.PRINTABLE && !isPrintableString(value)) return `"${value}" is not a valid PrintableString`;
  if (tag === TAG.IA5 && !IA5.test(value)) return `"${value}" is not a valid IA5String`;
  return undefined;
}

/**
 * Why Go would refuse this certificate's subject or issuer, or undefined. Used to replace a CA
 * written by an older version (CN `…-ca@<time>` as PrintableString) instead of reusing it.
 */
export function dnProblem(certPem: string): string | undefined {
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromPem(certPem);
  } catch {
    return undefined; // not ours to judge here: the other checks report unparseable PEM
  }
  for (const [where, attrs] of [
    ['subject', cert.subject.attributes],
    ['issuer', cert.issuer.attributes],
  ] as const) {
    for (const a of attrs) {
      const p = typeof a.value === 'string' ? tagProblem(Number(a.valueTagClass), a.value) : undefined;
      if (p) return `${where} ${a.shortName ?? a.name ?? a.type}: ${p} (Go's crypto/x509, used by kube-apiserver, refuses it)`;
    }
  }
  return undefined;
}
