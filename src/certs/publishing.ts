import type { Logger } from 'pino';
import type { CertPair, CertSource } from './types.js';
import { errMsg } from './validate.js';

/**
 * The part every changing certificate source shares: the pair being served and the listeners
 * (the server's setSecureContext) told when it is replaced.
 */
export abstract class PublishingCertSource implements CertSource {
  private listeners: Array<(p: CertPair) => void> = [];

  protected constructor(protected pair: CertPair) {}

  current(): CertPair {
    return this.pair;
  }

  onUpdate(cb: (pair: CertPair) => void): void {
    this.listeners.push(cb);
  }

  /** Serve `next` from now on; a listener that throws is logged and never stops the others. */
  protected publish(next: CertPair, log: Pick<Logger, 'error'>): void {
    this.pair = next;
    for (const cb of this.listeners) {
      try {
        cb(next);
      } catch (err) {
        log.error({ event: 'tls-reload-apply-failed', err: errMsg(err) }, 'applying the new certificate failed');
      }
    }
  }

  abstract ready(): boolean;
  abstract close(): Promise<void>;
}
