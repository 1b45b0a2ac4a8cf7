// Found in review (fixed; the test failed before): CRED-2 `Bearer<TAB>token` is now E2 (credentials.ts:32 knows the scheme is Bearer), but the
// challenge code asks schemeOf(), which splits on a space only and so sees no scheme: the
// invalid_request error is put on every offered challenge, or on the DPoP challenge alone on a DPoP-only
// route. §3: error params go only on the challenge of the scheme used; both only when ambiguous (M12).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const challenges = (r: { headersDistinct: Record<string, string[]> }): string[] => r.headersDistinct['www-authenticate'] ?? [];

describe('§3 / ERR-7: Bearer<TAB>token carries the error on the Bearer challenge only', () => {
  it('route accepting both schemes: 400, Bearer error="invalid_request", DPoP challenge bare (as for `Bearer  bad!token`)', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    // control: a malformed Bearer credential with a space separator
    const ctl = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}!`]] });
    expect(ctl.status).toBe(400);
    const ctlDpop = challenges(ctl).find((c) => c.startsWith('DPoP'));
    expect(ctlDpop).not.toContain('error=');

    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer\t${token}`]] });
    expect(r.status).toBe(400);
    const bearer = challenges(r).find((c) => c.startsWith('Bearer'));
    const dpop = challenges(r).find((c) => c.startsWith('DPoP'));
    expect(bearer).toContain('error="invalid_request"');
    expect(dpop).not.toContain('error=');
  });
});
