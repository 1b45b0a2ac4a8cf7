// Found in review (failed on the code before its fix): MemoryReplayStore assumes insertion order is expiry order ("the gateway uses one TTL"), but a
// reload that narrows dpop.iat_past_s keeps the running store and shortens the TTL of new entries.
// The "full" sweep then stops at the first live (old, long-TTL) entry and the store answers 503 while
// most of its entries have expired (README: "when full of unexpired entries it fails closed").
import { describe, expect, it } from 'vitest';
import { MemoryReplayStore } from '../../src/replay/memory.js';

describe('review DPOP-21/DPOP-22: memory replay store after a TTL change', () => {
  it('does not refuse (503) while only one of its entries is still live', () => {
    let now = 0;
    const store = new MemoryReplayStore({ maxEntries: 3, now: () => now });
    // Claimed under iat_past_s 300 / iat_future_s 10: TTL 320 s.
    expect(store.claimNow('old', 320_000)).toBe(true);
    // Reload to iat_past_s 60: TTL 80 s.
    now = 1_000;
    expect(store.claimNow('b', 80_000)).toBe(true);
    expect(store.claimNow('c', 80_000)).toBe(true);
    // 100 s later 'b' and 'c' have expired: 1 live entry in a store of 3.
    now = 100_000;
    const r = (() => {
      try {
        return store.claimNow('d', 80_000) ? 'claimed' : 'replay';
      } catch (e) {
        return `refused: ${(e as Error).message}`;
      }
    })();
    expect(r).toBe('claimed');
  });
});
