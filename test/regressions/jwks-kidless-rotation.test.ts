// Found in review (fixed; the test failed before): JWT-4 for kid-less tokens. issuer-keys.ts getKey refetches the JWKS only on
// ERR_JWKS_NO_MATCHING_KEY; a token without `kid` always "matches" the keys of its type, so after the AS
// rotates its signing key, every kid-less token is refused (401) until the background refresh
// (jwks_refresh_s, default 300 s), while a token with a kid gets 200 after one refetch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => ((c.issuers as Record<string, Record<string, unknown>>).main!.jwks_refetch_cooldown_s = 1) });
});
afterAll(async () => {
  await h?.close();
});

const call = (token: string) => h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });

describe('JWT-4: a key the AS has just rotated in', () => {
  it('token without kid, signed by the new key -> 200 after one refetch (as a token with the new kid is)', async () => {
    const cnf = cnfX5t(h.pki.client1.x5tS256);
    expect((await call(await h.issuer.mint({ cnf }))).status).toBe(200); // keys loaded
    // control: with a kid
    await h.issuer.rotate();
    await new Promise((r) => setTimeout(r, 1100)); // past the refetch cooldown
    expect((await call(await h.issuer.mint({ cnf }))).status).toBe(200);
    // without a kid
    await h.issuer.rotate();
    await new Promise((r) => setTimeout(r, 1100));
    const fetches = h.issuer.jwksFetches;
    const r = await call(await h.issuer.mint({ cnf }, { header: { kid: undefined } }));
    expect({ status: r.status, refetched: h.issuer.jwksFetches > fetches }).toEqual({ status: 200, refetched: true });
  });
});
