// INT-6: introspection results cached by SHA-256(token), each with its own deadline; one load in
// flight per token (concurrent requests share it); failed loads are shared by their waiters and
// never stored; bounded (expired entries go first, then the oldest).

/** What a load produces: the value and how long it may be served (<= 0: not stored). */
export interface CacheLoad<V> {
  readonly value: V;
  readonly ttlMs: number;
}

export class IntrospectionCache<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly until: number }>();
  private readonly inflight = new Map<string, Promise<V>>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cached value, else the load already in flight for this key, else a new load. */
  getOrLoad(key: string, load: () => Promise<CacheLoad<V>>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (hit.until > this.now()) return Promise.resolve(hit.value);
      this.entries.delete(key);
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      pending = load()
        .then(({ value, ttlMs }) => {
          this.set(key, value, ttlMs);
          return value;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private set(key: string, value: V, ttlMs: number): void {
    this.entries.delete(key);
    if (!(ttlMs > 0)) return;
    const now = this.now();
    if (this.entries.size >= this.maxEntries) this.evict(now);
    this.entries.set(key, { value, until: now + ttlMs });
  }

  /** Drop expired entries; if that freed nothing, drop the oldest tenth (insertion order). */
  private evict(now: number): void {
    for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
    if (this.entries.size < this.maxEntries) return;
    let n = this.entries.size - this.maxEntries + Math.ceil(this.maxEntries / 10);
    for (const k of this.entries.keys()) {
      if (n-- <= 0) break;
      this.entries.delete(k);
    }
  }
}
