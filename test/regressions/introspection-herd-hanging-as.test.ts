// Found in review (fixed; the test failed before): INT-8, E9 (thundering herd). The breaker counts only
// completed failures and nothing bounded the introspection calls in flight: when the AS started hanging,
// every distinct uncached token arriving within the first timeout_ms was sent to it (50 concurrent
// requests, 50 calls and TLS connections piled on an AS already struggling). Now at most
// introspection.max_in_flight calls (10 here, 64 by default) are under way per issuer; the excess gets 503 at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

const CONCURRENT = 50;
let w: OpaqueWorld;
beforeAll(async () => {
  w = await startOpaqueWorld({ timeout_ms: 1500, max_in_flight: 10 });
  w.as.handler = () => undefined; // reads the request, never answers
});
afterAll(async () => {
  await w?.close();
});

describe('INT-8: introspection calls in flight to a hanging AS are bounded', () => {
  it(`${CONCURRENT} concurrent distinct tokens while the AS hangs -> all 503, at most 10 calls reach the AS`, async () => {
    const rs = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => w.call(`tok-${i}`)));
    expect(rs.every((r) => r.status === 503)).toBe(true);
    expect(w.h.upstream.received).toHaveLength(0);
    expect(w.as.count('/introspect')).toBeGreaterThan(0);
    expect(w.as.count('/introspect')).toBeLessThanOrEqual(10);
  }, 20_000);
});
