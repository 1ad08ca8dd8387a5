/**
 * Circuit breaker per GitLab base URL. Pure state machine; time comes from the caller.
 *
 * closed --(threshold consecutive failures)--> open --(cool-down elapsed)--> half-open:
 * exactly one probe call goes through; its success closes the circuit, its failure opens it for
 * another cool-down. A "failure" is GitLab not answering usefully (timeout, network error, 5xx,
 * 429, unexpected status). A 403 is an answer, not a failure.
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  threshold: number;
  coolDownMs: number;
}

interface Circuit {
  failures: number;
  openedAt: number;
  state: BreakerState;
  probing: boolean;
}

export class Breakers {
  private readonly circuits = new Map<string, Circuit>();
  constructor(private readonly opts: BreakerOptions) {}

  private get(key: string): Circuit {
    let c = this.circuits.get(key);
    if (!c) {
      c = { failures: 0, openedAt: 0, state: 'closed', probing: false };
      this.circuits.set(key, c);
    }
    return c;
  }

  state(key: string, now: number): BreakerState {
    const c = this.circuits.get(key);
    if (!c) return 'closed';
    if (c.state === 'open' && now - c.openedAt >= this.opts.coolDownMs) return 'half-open';
    return c.state;
  }

  /** May a call go out now? In half-open only the first asker gets true (the probe). */
  tryAcquire(key: string, now: number): boolean {
    const c = this.get(key);
    if (c.state === 'closed') return true;
    if (c.state === 'open') {
      if (now - c.openedAt < this.opts.coolDownMs) return false;
      c.state = 'half-open';
      c.probing = false;
    }
    if (c.probing) return false;
    c.probing = true;
    return true;
  }

  success(key: string): void {
    const c = this.get(key);
    c.failures = 0;
    c.state = 'closed';
    c.probing = false;
  }

  /** Returns true when this failure opened (or re-opened) the circuit. */
  failure(key: string, now: number): boolean {
    const c = this.get(key);
    c.failures += 1;
    if (c.state === 'half-open' || c.failures >= this.opts.threshold) {
      const wasOpen = c.state === 'open';
      c.state = 'open';
      c.openedAt = now;
      c.probing = false;
      return !wasOpen;
    }
    return false;
  }
}
