// Found in review (fixed; the test failed before): INT-8, INT-2, E9. The issuer-wide introspection breaker
// counted every non-answer, including a definite 4xx the AS gives about one request (400 invalid_request
// for a token it finds malformed, as some ASes do instead of {"active":false}): five junk tokens from
// anyone opened it, and every new opaque token of every client got 503 while a healthy AS was up.
// Now that request still fails closed (503), but only outages count (transport errors, timeouts, 404 and
// 5xx, 429, unreadable answers); 400 unsupported_token_type stays "inactive" (unit test).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../support/fake-as.js';
import { startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
beforeAll(async () => {
  w = await startOpaqueWorld();
  w.as.handler = (_q, res, body) => {
    const token = new URLSearchParams(body.toString('utf8')).get('token') ?? '';
    if (token.startsWith('junk')) return json(res, 400, { error: 'invalid_request', error_description: 'malformed token' });
    json(res, 200, w.active());
  };
});
afterAll(async () => {
  await w?.close();
});

describe('INT-8: a per-token 4xx from a healthy AS must not open the issuer-wide breaker', () => {
  it('six junk tokens from an attacker, then a legitimate new token -> 200 (not 503)', async () => {
    expect((await w.call('legit-0')).status).toBe(200);
    const junkBefore = w.as.count('/introspect');
    for (let i = 0; i < 6; i++) {
      const r = await w.call(`junk-${i}`);
      expect([401, 503]).toContain(r.status);
    }
    expect(w.as.count('/introspect')).toBe(junkBefore + 6); // each junk token did reach the AS
    const callsBefore = w.as.count('/introspect');
    const r = await w.call('legit-1');
    expect({ status: r.status, asAsked: w.as.count('/introspect') > callsBefore }).toEqual({ status: 200, asAsked: true });
  });
});
