// In-process replay store for a single instance. Bounded: when full of live entries it refuses
// (503) rather than accept a proof it cannot remember (DPOP-22).
import { GatewayError } from '../errors/gateway-error.js';
import type { ReplayStore } from './store.js';

export interface MemoryReplayStoreOptions {
  readonly maxEntries?: number;
  /** dpop.iat_future_s (ms) at the start (see ReplayStore.futureAllowanceMs). */
  readonly futureAllowanceMs?: number;
  /** Claims made elsewhere before this time are unknown here: a reload that moved the store from Redis. */
  readonly floorMs?: number;
  /** Injectable clock for tests. */
  readonly now?: () => number;
}

// Per-claim sweep budget keeps latency flat; each entry is deleted once, so the sweep is O(1) amortised.
const SWEEP_BUDGET = 64;
const FULL_SWEEP_EVERY_MS = 1000;

export class MemoryReplayStore implements ReplayStore {
  // key -> expiry (ms). The gateway uses one TTL, so insertion order is expiry order: sweep from the oldest.
  private readonly entries = new Map<string, number>();
  private fullSweepAt = Number.NEGATIVE_INFINITY;
  private maxEntries: number;
  private readonly now: () => number;
  /**
   * A new process remembers nothing: the claims it forgot were made before it started. From the start of
   * that second, as `iat` is written: a client's first proof after a restart is not refused for a
   * rounding (a predecessor that used a proof within the same second is the one case left open). A
   * reload that moved the store here from Redis: from that moment (floorMs), not rounded.
   */
  readonly rememberedSinceMs: number;
  readonly futureAllowanceMs: number;

  constructor(opts: MemoryReplayStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1_000_000;
    this.now = opts.now ?? Date.now;
    this.rememberedSinceMs = Math.max(Math.floor(this.now() / 1000) * 1000, opts.floorMs ?? 0);
    this.futureAllowanceMs = opts.futureAllowanceMs ?? 0;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  /** A reload's new `memory_max_entries`: the used jtis are kept (a new store would forget them). */
  resize(maxEntries: number): void {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return this.claimNow(key, ttlMs);
  }

  claimNow(key: string, ttlMs: number): boolean {
    const now = this.now();
    this.sweep(now, SWEEP_BUDGET);
    const expiresAt = this.entries.get(key);
    if (expiresAt !== undefined) {
      if (expiresAt > now) return false;
      this.entries.delete(key);
    }
    if (this.entries.size >= this.maxEntries) {
      // Every entry, not just up to the first live one: after a reload shortened the TTL, insertion
      // order is no longer expiry order. At most once a second: a full store of live entries would
      // otherwise walk a million entries on every refused claim.
      const full = now - this.fullSweepAt >= FULL_SWEEP_EVERY_MS;
      if (full) this.fullSweepAt = now;
      this.sweep(now, Infinity, !full);
      if (this.entries.size >= this.maxEntries) {
        throw new GatewayError('GW_REPLAY_STORE_UNAVAILABLE', `DPOP-22 memory replay store full (${this.maxEntries} live entries)`, {
          retryAfterS: 1,
        });
      }
    }
    this.entries.set(key, now + ttlMs);
    return true;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  /** Entries held (expired ones linger until swept), for metrics and tests. */
  get size(): number {
    return this.entries.size;
  }

  /** Deletes expired entries from the oldest, stopping after `budget` deletions or (`stopAtLive`) at the first live one. */
  private sweep(now: number, budget: number, stopAtLive = true): void {
    let n = 0;
    for (const [key, expiresAt] of this.entries) {
      if (n >= budget) return;
      if (expiresAt > now) {
        if (stopAtLive) return;
        continue;
      }
      this.entries.delete(key);
      n++;
    }
  }
}
