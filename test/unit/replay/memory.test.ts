import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { MemoryReplayStore } from '../../../src/replay/memory.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('MemoryReplayStore (DPOP-21, DPOP-22)', () => {
  it('DPOP-21 the first claim is true, the second false', async () => {
    const s = new MemoryReplayStore();
    expect(await s.claim('k1', 60_000)).toBe(true);
    expect(await s.claim('k1', 60_000)).toBe(false);
    expect(await s.claim('k2', 60_000)).toBe(true);
  });

  it('DPOP-21 claimNow (the request path, no promise) shares the store with claim', async () => {
    const s = new MemoryReplayStore({ maxEntries: 2 });
    expect(s.claimNow('k1', 60_000)).toBe(true);
    expect(await s.claim('k1', 60_000)).toBe(false);
    expect(await s.claim('k2', 60_000)).toBe(true);
    expect(s.claimNow('k2', 60_000)).toBe(false);
    // DPOP-22: full of live entries, it refuses there and then.
    expect(() => s.claimNow('k3', 60_000)).toThrow(GatewayError);
  });

  it('DPOP-21 concurrent claims of one key: exactly one is true', async () => {
    const s = new MemoryReplayStore();
    const results = await Promise.all(Array.from({ length: 50 }, () => s.claim('same', 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('DPOP-21 a key stays claimed for its whole TTL and can be claimed again after it', async () => {
    const c = clock();
    const s = new MemoryReplayStore({ now: c.now });
    expect(await s.claim('k', 1000)).toBe(true);
    c.advance(999);
    expect(await s.claim('k', 1000)).toBe(false);
    c.advance(1);
    expect(await s.claim('k', 1000)).toBe(true);
    expect(await s.claim('k', 1000)).toBe(false);
  });

  it('DPOP-21 expired entries are swept, so memory does not grow with traffic', async () => {
    const c = clock();
    const s = new MemoryReplayStore({ now: c.now });
    for (let i = 0; i < 1000; i++) await s.claim(`a${i}`, 1000);
    expect(s.size).toBe(1000);
    c.advance(1000);
    for (let i = 0; i < 100; i++) await s.claim(`b${i}`, 1000);
    // 64 expired entries are swept per claim: all 1000 are gone after 100 claims.
    expect(s.size).toBe(100);
  });

  it('DPOP-22 bounded: full of live entries it refuses with GW_REPLAY_STORE_UNAVAILABLE, never accepts unchecked', async () => {
    const c = clock();
    const s = new MemoryReplayStore({ maxEntries: 3, now: c.now });
    for (const k of ['a', 'b', 'c']) expect(await s.claim(k, 10_000)).toBe(true);
    const err = await s.claim('d', 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('GW_REPLAY_STORE_UNAVAILABLE');
    expect((err as GatewayError).retryAfterS).toBe(1);
    // A replay is still detected while full.
    expect(await s.claim('a', 10_000)).toBe(false);
    expect(s.size).toBe(3);
  });

  it('DPOP-22 bounded: once entries expire there is room again', async () => {
    const c = clock();
    const s = new MemoryReplayStore({ maxEntries: 3, now: c.now });
    for (const k of ['a', 'b', 'c']) await s.claim(k, 10_000);
    c.advance(10_000);
    expect(await s.claim('d', 10_000)).toBe(true);
    expect(await s.claim('a', 10_000)).toBe(true);
    expect(s.size).toBeLessThanOrEqual(3);
  });

  it('DPOP-22 ping is true; close empties the store', async () => {
    const s = new MemoryReplayStore();
    await s.claim('k', 60_000);
    expect(await s.ping()).toBe(true);
    await s.close();
    expect(s.size).toBe(0);
  });

  it('DPOP-22 refuses a non-positive bound', () => {
    expect(() => new MemoryReplayStore({ maxEntries: 0 })).toThrow();
  });
});
