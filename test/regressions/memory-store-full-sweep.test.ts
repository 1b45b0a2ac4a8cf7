// Found in review (failed on the code before its fix): a memory replay store full of live entries scans every entry on every claim before refusing.
import { describe, expect, it } from 'vitest';
import { MemoryReplayStore } from '../../src/replay/memory.js';

describe('memory replay store at capacity', () => {
  it('refusing a claim when full of live entries stays O(1) (no full scan per request)', () => {
    const t = 1_000_000;
    const max = 1_000_000;
    const store = new MemoryReplayStore({ maxEntries: max, now: () => t });
    for (let i = 0; i < max; i++) store.claimNow(`k${i}`, 60_000);
    let refused = 0;
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      try {
        store.claimNow(`new${i}`, 60_000);
      } catch {
        refused++;
      }
    }
    const perClaimMs = (performance.now() - started) / 200;
    expect(refused).toBe(200);
    // Before the change (sweep stopping at the first live entry) this was microseconds.
    expect(perClaimMs).toBeLessThan(0.5);
  }, 60_000);
});
