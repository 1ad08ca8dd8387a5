/** What the server needs from any certificate mode (see docs/certificates.md). */
export interface CertPair {
  key: string;
  /** PEM serving certificate, possibly followed by intermediates (served as the chain) */
  cert: string;
  /** PEM CA bundle clients should trust, when this mode knows it */
  ca?: string;
}

export interface CertSource {
  current(): CertPair;
  /** called after a new, validated pair replaced the current one (server.setSecureContext) */
  onUpdate(cb: (pair: CertPair) => void): void;
  /** false until the cert (and, in selfManaged mode, the webhook caBundle) is in place */
  ready(): boolean;
  close(): Promise<void>;
}
