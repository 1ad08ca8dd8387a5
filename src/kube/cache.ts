/**
 * A small TTL cache with a size bound, for Kubernetes lookups made during admission. A webhook
 * sees bursts (a rollout re-admits the same Deployment; `kubectl apply -f dir/` sends a
 * ConfigMap and the workload that mounts it back to back), so a few seconds of caching removes
 * most apiserver round trips; the bound keeps a namespace with thousands of objects from
 * growing the process.
 *
 * Insertion order of a Map is the eviction order: re-setting a key moves it to the end, so the
 * oldest write goes first (a cheap approximation of LRU that is exact for "write once, read
 * for ttl").
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
