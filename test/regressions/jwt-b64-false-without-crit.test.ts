// Found in review (fixed; the test failed before): JWT-12, RFC 7797 §6-§7. A JWT access token whose protected header carries
// `"b64": false` was accepted when `crit` does not list "b64". RFC 7797 §7: JWTs MUST NOT use b64 with
// a false value; §6: b64 MUST be listed in crit, so such a header is malformed either way. jose only
// honours b64 when it is in crit and otherwise treats the payload as base64url, so the gateway
// (src/token/jwt-validator.ts) never looked at it and let it through; checkEncodedPayload now refuses it.
// Real gateway over TLS, real issuer JWKS, token signed with the issuer's real key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cnfX5t } from '../support/issuer.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { refusedNotForwarded } from '../support/contract.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

describe('JWT-12 / RFC 7797 §7: b64:false is refused in an access token, with or without crit', () => {
  it('sanity: the same token without b64 is accepted', async () => {
    const ok = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    expect((await h.call('/mtls/x', { cert: h.pki.client1, headers: [bearer(ok)] })).status).toBe(200);
  });

  it('JWT-12: {"b64": false} without crit -> 401 invalid_token, not forwarded', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { header: { b64: false } });
    // Signed by the issuer's published key; only the header member differs from the sanity token.
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ b64: false, typ: 'at+jwt' });
    await refusedNotForwarded(h, '/mtls/x', { cert: h.pki.client1, headers: [bearer(token)] }, 401, 'invalid_token');
  });
});
