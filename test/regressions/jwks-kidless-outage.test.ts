// Found in review (fixed; the test failed before): JWT-4, E9, Q-13. A token without `kid` signed by a key
// the AS had just rotated in, while the JWKS endpoint failed: the refetch failed, refetchAllowed() said
// "no", and the signature failure gave 401 invalid_token (the TPP discards a valid token because the
// AS is down), where the same token with a `kid` got 503. Now a failed (or skipped, after a failure)
// refetch is an outage: 503 with Retry-After, and 200 once the JWKS answers again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { until } from '../support/redis.js';
import { sleep } from '../support/fake-as.js';
import { expect503 } from '../support/opaque-as-world.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = 1) });
});
afterAll(async () => {
  await h?.close();
});

const call = (token: string) => h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });

describe('JWT-4 / E9: a kid-less token of a newly rotated key while the JWKS is down', () => {
  it('-> 503 (as with a kid), not 401; 200 once the JWKS is back', async () => {
    const cnf = cnfX5t(h.pki.client1.x5tS256);
    expect(await until(async () => (await call(await h.issuer.mint({ cnf }))).status === 200, 5000)).toBe(true);
    await sleep(1100); // past the refetch cooldown
    h.issuer.mode = 'down';
    await h.issuer.rotate();
    const kidless = await h.issuer.mint({ cnf }, { header: { kid: undefined } });
    const before = h.upstream.received.length;
    const r = await call(kidless);
    try {
      expect503(r);
    } finally {
      h.issuer.mode = 'ok';
    }
    expect(h.upstream.received.length).toBe(before);
    expect(await until(async () => (await call(kidless)).status === 200, 5000, 200)).toBe(true);
  });
});
