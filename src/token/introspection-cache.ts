// INT-6: introspection results cached by SHA-256(token), each with its own deadline; one load in
// flight per token (concurrent requests share it); failed loads are shared by their waiters and
// never stored; bounded (expired entries go first, then the oldest). Refusals are kept apart, in a
// tenth of the room: tokens the AS does not know (anyone can make them) must not push out the answers
// of the tokens it called active.

/** What a load produces: the value and how long it may be served (<= 0: not stored). */
export interface CacheLoad<V> {
  readonly value: V;
  readonly ttlMs: number;
}

interface Entries<V> {
  readonly map: Map<string, { readonly value: V; readonly until: number }>;
  readonly max: number;
}

export class IntrospectionCache<V> {
  private readonly accepted: Entries<V>;
  private readonly refused: Entries<V>;
  private readonly inflight = new Map<string, Promise<V>>();

  /** `isRefusal`: values kept apart, in max(1, maxEntries / 10) entries. */
  constructor(
    maxEntries: number,
    private readonly now: () => number = Date.now,
    private readonly isRefusal: (value: V) => boolean = () => false,
  ) {
    this.accepted = { map: new Map(), max: maxEntries };
    this.refused = { map: new Map(), max: Math.max(1, Math.ceil(maxEntries / 10)) };
  }

  get size(): number {
    return this.accepted.map.size + this.refused.map.size;
  }

  /** The cached value, else the load already in flight for this key, else a new load. */
  getOrLoad(key: string, load: () => Promise<CacheLoad<V>>): Promise<V> {
    const hit = this.accepted.map.get(key) ?? this.refused.map.get(key);
    if (hit !== undefined) {
      if (hit.until > this.now()) return Promise.resolve(hit.value);
      this.delete(key);
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
    this.accepted.map.delete(key);
    this.refused.map.delete(key);
  }

  private set(key: string, value: V, ttlMs: number): void {
    this.delete(key);
    if (!(ttlMs > 0)) return;
    const now = this.now();
    const into = this.isRefusal(value) ? this.refused : this.accepted;
    if (into.map.size >= into.max) evict(into, now);
    into.map.set(key, { value, until: now + ttlMs });
  }
}

/** Drop expired entries; if that freed nothing, drop the oldest tenth (insertion order). */
function evict<V>(entries: Entries<V>, now: number): void {
  const { map, max } = entries;
  for (const [k, e] of map) if (e.until <= now) map.delete(k);
  if (map.size < max) return;
  let n = map.size - max + Math.ceil(max / 10);
  for (const k of map.keys()) {
    if (n-- <= 0) break;
    map.delete(k);
  }
}
