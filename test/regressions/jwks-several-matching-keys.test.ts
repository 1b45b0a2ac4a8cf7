// JWT-3 (found in review): a token without `kid` (RFC 9068 does not require one) matched every key of
// its type in the JWKS, and jose refuses to pick one, so a valid token from an AS that publishes two
// keys of one type (during a rotation, say) got 401. Each matching key is now tried; the first whose
// signature verifies decides.
import { randomUUID } from 'node:crypto';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorContract as expectContract } from '../support/contract.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  // The start warms the key cache; a fetch for the key added below must not fall in its cooldown.
  h = await startHarness({ patch: (c) => void (c.issuers.main.jwks_refetch_cooldown_s = 1) });
});
afterAll(async () => {
  await h?.close();
});
const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];
const call = (token: string) => h.call('/mtls/kidless', { cert: h.pki.client1, headers: [bearer(token)] });

describe('JWT-3: a token several JWKS keys match', () => {
  it('without kid, signed by the second of two ES256 keys -> 200; by the first -> 200', async () => {
    const second = await h.issuer.addKey('ES256');
    // Past the cooldown of whichever fetch came last (the start's warm-up may have just made one).
    await new Promise((r) => setTimeout(r, 1100));
    const cnf = cnfX5t(h.pki.client1.x5tS256);
    expect((await call(await h.issuer.mint({ cnf }, { kid: second.kid, header: { kid: undefined } }))).status).toBe(200);
    expect((await call(await h.issuer.mint({ cnf }, { header: { kid: undefined } }))).status).toBe(200);
  });

  it('without kid, signed by a key the JWKS does not publish -> 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { key: privateKey, alg: 'ES256', header: { kid: undefined } });
    expectContract(await call(token), 401, 'invalid_token');
  });

  it('without kid, expired, signed by the second key -> 401 invalid_token (claims still checked)', async () => {
    const k = h.issuer.keys.at(-1)!;
    const now = Math.floor(Date.now() / 1000);
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), iat: now - 600, exp: now - 300 }, { kid: k.kid, header: { kid: undefined } });
    const iid = randomUUID();
    const r = await h.call('/mtls/kidless', { cert: h.pki.client1, headers: [bearer(token), ['x-fapi-interaction-id', iid]] });
    expectContract(r, 401, 'invalid_token');
    // Refused for its expiry, found once the right key verified it: not for the ambiguous key.
    expect((await logFor(h, iid))?.reason).toBe('GW_TOKEN_EXPIRED');
  });
});
