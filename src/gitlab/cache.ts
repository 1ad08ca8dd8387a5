/**
 * Result cache keyed by sha256(base URL + NUL + token): the token itself is never a key, so a heap
 * dump or a debugger shows digests, not secrets. Time comes from the caller.
 */
import { createHash } from 'node:crypto';

export function cacheKey(baseUrl: string, token: string): string {
  return createHash('sha256').update(baseUrl).update('\0').update(token).digest('hex');
}

export class TtlCache<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  constructor(private readonly maxEntries: number) {}

  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.map.delete(key);
    // Map iteration order is insertion order: the first key is the oldest write.
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt });
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
