// Found in review (fixed; the test failed before): review of c9619c3 (DPOP-21 floors, src/replay/store.ts ReplayClock.allowanceBefore): "the largest
// future allowance in force at any time before T". After a reload that raised dpop.iat_future_s and one
// that lowered it again, every later floor (a Redis that lost its keys, a failover, a wall-clock step)
// adds the raised allowance for the rest of the process's life, though a proof accepted under it carries
// an iat at most (end of that allowance) + (that allowance): an hour later nothing accepted before the
// floor can be dated more than the current iat_future_s after it. Honest proofs are refused for up to
// MAX_IAT_FUTURE_S (60 s) instead of iat_future_s after each such floor (and readiness waits as long).
import { describe, expect, it } from 'vitest';
import { checkRemembered, ReplayClock, type ReplayStore } from '../../src/replay/store.js';

const store = (sinceMs: number, futureAllowanceMs: number): ReplayStore => ({
  rememberedSinceMs: sinceMs,
  futureAllowanceMs,
  claim: async () => true,
  ping: async () => true,
  close: async () => undefined,
});

describe('review diff3: DPOP-21 allowance history', () => {
  it('DPOP-21: an iat_future_s raised then lowered an hour ago does not widen a floor set now', () => {
    const t0 = 1_800_000_000_000;
    let wall = t0;
    let mono = 1_000;
    const clock = new ReplayClock(10_000, () => wall, () => mono);
    // Reload raising iat_future_s to 60, and one second later (a mistake undone) back to 10.
    clock.setFutureAllowance(60_000);
    wall += 1_000;
    mono += 1_000;
    clock.setFutureAllowance(10_000);
    // An hour later Redis loses its keys: the store remembers from now (T).
    wall += 3_600_000;
    mono += 3_600_000;
    const T = wall;
    // 15 s later an honest proof dated now: nothing accepted before T had an iat after
    // max(t0 + 1 s + 60 s, T + 10 s) = T + 10 s.
    wall += 15_000;
    mono += 15_000;
    expect(() => checkRemembered(store(T, 10_000), Math.floor(wall / 1000), clock)).not.toThrow(); // was: throws, floor T + 60 s
  });
});
