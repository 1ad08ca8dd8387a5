/**
 * A small TTL cache with a size bound, for the adapters' answers (Kubernetes lookups, GitLab
 * token verification). A webhook sees bursts (a rollout re-admits the same Deployment;
 * `kubectl apply -f dir/` sends a ConfigMap and the workload that mounts it back to back), so
 * a few seconds of caching removes most round trips; the bound keeps a namespace with thousands
 * of objects, or a flood of distinct tokens, from growing the process.
 *
 * Insertion order of a Map is the eviction order: re-setting a key moves it to the end, so the
 * oldest write goes first (a cheap approximation of LRU that is exact for "write once, read
 * for ttl"). Time comes from `now` so tests need no wall clock.
 */
export interface TtlCacheOptions {
  maxEntries: number;
  /** ttl of `set` without one; 0 (the default) stores nothing unless `set` names a ttl */
  defaultTtlMs?: number;
  /** epoch ms */
  now?: () => number;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly maxEntries: number;
  private readonly defaultTtlMs: number;
  private readonly now: () => number;

  constructor(opts: TtlCacheOptions) {
    this.maxEntries = opts.maxEntries;
    this.defaultTtlMs = opts.defaultTtlMs ?? 0;
    this.now = opts.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** A ttl ≤ 0 (or a cache bounded to 0 entries) stores nothing: that is how caching is turned off. */
  set(key: string, value: V, ttlMs: number = this.defaultTtlMs): void {
    if (ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + ttlMs });
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
