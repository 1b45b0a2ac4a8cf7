// Found in review (fixed; the test failed before): a reload that changes an issuer setting the key cache does not depend on
// (clock_leeway_s here) throws the fetched JWKS away. README "Operating it": "the issuers' key caches ...
// survive a reload while the settings they depend on are unchanged". With the AS unreachable at that
// moment, the reloaded gateway answers every JWT request 503 and /readyz 503, where the old config served.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cnfX5t } from '../support/issuer.js';
import { startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('JWT-3 / operations: key cache across a reload of an unrelated issuer setting', () => {
  it('keeps serving JWTs (and stays ready) after clock_leeway_s changes while the AS is down', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    const before = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    expect(before.status).toBe(200);
    expect((await fetch(`${h.adminUrl}/readyz`)).status).toBe(200);

    h.issuer.mode = 'down'; // the AS's JWKS endpoint answers 503 from now on
    const fetchesBefore = h.issuer.jwksFetches;
    h.reload((c) => {
      c.issuers.main.clock_leeway_s = 20; // nothing to do with fetching keys
    });

    // A fresh token from the same, unchanged key (the verified-token cache is rightly reset: leeway changed).
    const token2 = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts', jti: 'second' });
    const after = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token2}`]] });
    const ready = await fetch(`${h.adminUrl}/readyz`);
    // Evidence of the cause: the reload made the gateway fetch the JWKS again.
    expect.soft(after.status, `JWT request after reload: ${after.body}`).toBe(200);
    expect.soft(ready.status, `/readyz after reload: ${await ready.text()}`).toBe(200);
    expect.soft(h.issuer.jwksFetches, 'JWKS fetched again because of the reload').toBe(fetchesBefore);
  });
});
