// Found in review (fixed; the test failed before): time and clocks: INT-6 against the real gateway: "TTL <= min(exp - now, configured maximum). Never cache
// past exp." The TTL is computed when the lookup starts (src/token/introspection.ts, load():
// `exp * 1000 - nowMs`) and counted from when the answer arrives (IntrospectionCache.set: `now + ttlMs`),
// so an answer that took the AS 1.5 s to give is served until exp + 1.5 s (up to timeout_ms, 30 s at most)
// instead of asking the AS again, which by then says the token is not active.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../support/fake-as.js';
import { startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
beforeAll(async () => {
  w = await startOpaqueWorld({ cache_max_s: 60, timeout_ms: 3000 });
});
afterAll(async () => {
  await w?.close();
});

describe('INT-6: never cached past exp', () => {
  it('INT-6: a slow AS answer (1.5 s) for a token expiring in 3 s is not served from the cache after exp', async () => {
    let exp = 0;
    let calls = 0;
    w.as.handler = (_req, res) => {
      calls++;
      if (calls > 1) return json(res, 200, { active: false }); // after exp the AS says so
      exp = Math.floor(Date.now() / 1000) + 3;
      setTimeout(() => json(res, 200, w.active({ exp })), 1500);
    };
    const token = `opaque-${Math.random().toString(36).slice(2)}`;
    expect((await w.call(token)).status).toBe(200);
    expect(calls).toBe(1);
    await sleep(exp * 1000 + 400 - Date.now());
    const r = await w.call(token);
    expect({ status: r.status, asked: calls }).toEqual({ status: 401, asked: 2 }); // was: { status: 200, asked: 1 }
  });
});
