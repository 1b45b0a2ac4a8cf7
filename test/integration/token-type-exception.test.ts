// JWT-1 / Q-10 over real TLS: an issuer configured with allow_missing_token_type (an AS that leaves `typ`
// out, PingFederate's default) has its untyped access tokens accepted; a `typ` that is present is still
// checked, a non-string one is refused, and its ID tokens (untyped too) stay out through the audience.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorContract } from '../support/contract.js';
import { AUDIENCE, logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { randomUUID } from 'node:crypto';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => void (c.issuers.main.allow_missing_token_type = true) });
});
afterAll(async () => {
  await h?.close();
});

const call = (token: string, iid = randomUUID()) => h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
const claims = () => ({ cnf: cnfX5t(h.pki.client1.x5tS256) });

describe('JWT-1 / Q-10 allow_missing_token_type', () => {
  it('JWT-1 an untyped access token of that issuer -> 200; at+jwt still -> 200', async () => {
    expect((await call(await h.issuer.mint(claims(), { typ: null }))).status).toBe(200);
    expect((await call(await h.issuer.mint(claims()))).status).toBe(200);
  });

  it('JWT-1 a typ that is present must still be at+jwt: JWT, or a non-string typ -> 401 invalid_token', async () => {
    for (const [opts, detail] of [
      [{ typ: 'JWT' }, 'JWT-1 typ not at+jwt'],
      [{ typ: null, header: { typ: 7 } }, 'JWT-1 typ not a string'],
    ] as const) {
      const iid = randomUUID();
      expectErrorContract(await call(await h.issuer.mint(claims(), opts), iid), 401, 'invalid_token');
      expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_TOKEN_INVALID', detail });
    }
  });

  it('JWT-1 / TOK-5 an untyped ID token of the same AS (aud = the client) -> 401: the audience keeps it out', async () => {
    const iid = randomUUID();
    const idToken = await h.issuer.mint({ ...claims(), aud: 'client-1', nonce: 'n-1' }, { typ: null });
    expectErrorContract(await call(idToken, iid), 401, 'invalid_token');
    expect((await logFor(h, iid))?.detail).toMatch(/aud/);
    expect(AUDIENCE).not.toBe('client-1');
  });
});
