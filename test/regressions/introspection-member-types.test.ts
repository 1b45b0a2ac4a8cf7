// Found in review (fixed; the test failed before): INT-2, INT-3, E9, Q-13. An active introspection answer
// whose members had the wrong JSON types (`exp` as a string, `scope` as an array, `aud` nested) was read
// as a verdict on the token: 401 invalid_token (the TPP throws a good token away), cached for
// negative_cache_s and not counted by the breaker. It is the AS misbehaving, like `active: "true"`:
// now 503 temporarily_unavailable with Retry-After, never cached, counted as an AS failure.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expect } from 'vitest';
import { json } from '../support/fake-as.js';
import { expect503, startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
let malformed: Record<string, unknown> = {};
beforeAll(async () => {
  w = await startOpaqueWorld({ negative_cache_s: 10 }); // a 401 would be cached; a 503 never is
  w.as.handler = (_q, res) => json(res, 200, w.active(malformed));
});
afterAll(async () => {
  await w?.close();
});

describe('INT-2 / E9: an introspection answer with wrongly typed members is an AS failure (503), not an invalid token (401)', () => {
  it.each([
    ['exp as a numeric string', () => ({ exp: String(Math.floor(Date.now() / 1000) + 300) })],
    ['scope as an array', () => ({ scope: ['accounts'] })],
    ['aud nested in an array', () => ({ aud: [['https://api.test']] })],
  ])('%s -> 503 temporarily_unavailable, not 401 invalid_token', async (_name, members) => {
    malformed = {};
    expect((await w.call('sanity-token')).status).toBe(200); // the same AS with a well-typed answer
    malformed = members();
    const before = w.h.upstream.received.length;
    const asked = w.as.count('/introspect');
    const token = `tok-${Math.random()}`;
    expect503(await w.call(token));
    expect503(await w.call(token)); // not cached (INT-6): the AS is asked again
    expect(w.as.count('/introspect')).toBe(asked + 2);
    expect(w.h.upstream.received.length).toBe(before);
  });
  // Last: leaves the breaker open.
  it('five malformed answers open the breaker (INT-8): the next new token gets 503 without asking the AS', async () => {
    malformed = { scope: ['accounts'] };
    for (let i = 0; i < 5; i++) expect503(await w.call(`bad-${i}-${Math.random()}`));
    malformed = {};
    const asked = w.as.count('/introspect');
    expect503(await w.call(`good-${Math.random()}`));
    expect(w.as.count('/introspect')).toBe(asked);
  });
});
