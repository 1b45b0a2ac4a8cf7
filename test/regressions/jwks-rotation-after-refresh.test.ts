// Found in review (fixed; the test failed before): outbound dependencies: JWT-4 "An AT signed by a newly rotated key gets 200 after one refresh";
// README `jwks_refetch_cooldown_s`: "An unknown kid triggers at most one JWKS fetch per cooldown". The
// cooldown is measured from any fetch (src/token/issuer-keys.ts:182-183 `attemptedAt`, set by every fetch at
// :195, checked on a kid miss at :136; src/signature/client-jwks.ts:100 and :147 likewise): the start-up fetch, a reload's, and the background refresh made at 80 % of jwks_refresh_s (so
// 30 s of every 240 s by default). A key the AS rotates in during that window is refused, 401
// invalid_token, for the rest of the cooldown although no unknown kid has triggered a fetch yet; clients
// told their token is invalid throw it away and go back to the AS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';

let issuer: TestIssuer;
let h: Harness;
beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  // The defaults: jwks_refetch_cooldown_s 30.
  h = await startHarness({ issuer });
  const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  expect((await h.call('/mtls/warm', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] })).status).toBe(200);
});
afterAll(async () => {
  await h?.close();
  await issuer?.close();
});

describe('JWT-4: a key rotated in soon after a fetch that no unknown kid triggered', () => {
  it('a token of the new key gets 200 after one refresh; random kids afterwards still cost no further fetch', async () => {
    // Keys under a second old are not fetched again for an unknown kid (JWKS_MISS_MIN_AGE_MS).
    await new Promise((r) => setTimeout(r, 1100));
    const before = issuer.jwksFetches;
    await issuer.rotate();
    const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/rotated', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    const afterRotation = issuer.jwksFetches - before;
    for (let i = 0; i < 10; i++) {
      const forged = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { kid: `random-${i}` });
      expect((await h.call('/mtls/forged', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${forged}`]] })).status).toBe(401);
    }
    expect({ status: r.status, fetchesForTheRotation: afterRotation, fetchesForTheFlood: issuer.jwksFetches - before - afterRotation }).toEqual({
      status: 200,
      fetchesForTheRotation: 1,
      fetchesForTheFlood: 0,
    });
  });
});
