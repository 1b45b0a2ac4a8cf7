// Found in review (fixed; the test failed before): INT-8, INT-1, E9. Without a configured endpoint,
// introspection.ts discover() tried the RFC 8414 metadata URL and then the OIDC one, each with the full
// timeout_ms, and the introspection call got another full timeout_ms: an AS that accepts connections but
// never answers held the client for 2 x timeout_ms before its 503 (3 x when the metadata was merely slow).
// Now one timeout_ms deadline covers the whole lookup, discovery and call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../support/fake-as.js';
import { expect503, startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

// Before the fix: >= 2 x (hanging) or >= 1.75 x (slow metadata) TIMEOUT_MS; the bound leaves 1 s of slack.
const TIMEOUT_MS = 2000;
const BOUND_MS = 1.5 * TIMEOUT_MS;
let w: OpaqueWorld;
beforeAll(async () => {
  w = await startOpaqueWorld({ endpoint: undefined, timeout_ms: TIMEOUT_MS });
});
afterAll(async () => {
  await w?.close();
});

async function timed(token: string) {
  const t0 = performance.now();
  const r = await w.call(token);
  return { r, ms: Math.round(performance.now() - t0) };
}

describe('INT-8: a hanging AS costs one timeout_ms, discovery included', () => {
  it(`AS never answers, endpoint to be discovered, timeout_ms ${TIMEOUT_MS} -> 503 within ${BOUND_MS} ms`, async () => {
    w.as.handler = () => undefined; // accepts, reads the request, never answers
    const { r, ms } = await timed('tok-1');
    expect503(r);
    expect(w.as.count('/.well-known/oauth-authorization-server')).toBe(1);
    expect(ms).toBeLessThan(BOUND_MS);
  }, 15_000);

  it(`metadata answers after 0.75 x timeout_ms, the endpoint never: 503 within ${BOUND_MS} ms (the call gets what is left)`, async () => {
    w.as.handler = (q, res) => {
      if (!(q.url ?? '').startsWith('/.well-known/')) return; // the introspection endpoint hangs
      setTimeout(() => {
        if (!res.destroyed) json(res, 200, { issuer: w.as.origin, introspection_endpoint: `${w.as.origin}/introspect` });
      }, 0.75 * TIMEOUT_MS);
    };
    const { r, ms } = await timed('tok-2');
    expect503(r);
    expect(w.as.count('/introspect')).toBe(1); // discovery succeeded and the call was made
    expect(ms).toBeLessThan(BOUND_MS);
  }, 15_000);
});
