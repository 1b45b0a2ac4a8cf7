// Review of today's diff (pins, passing): src/token/issuer-keys.ts now counts the refetch cooldown only
// from fetches an unknown kid (or a kid-less token's failed signature, refetchAllowed) caused, and does
// not refetch keys under JWKS_MISS_MIN_AGE_MS old. JWT-4: "A flood of random kids causes at most one
// JWKS fetch per window." What an attacker can send with no valid key: tokens with random kids, kid-less
// tokens with a bad signature (the refetchAllowed path), all at once, and while the AS is failing.
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('JWT-4: a mixed flood (random kids, kid-less forgeries, concurrent) costs one fetch per cooldown', () => {
  let h: Harness;
  beforeAll(async () => {
    // Cooldown 2 s; refresh far away (no background fetch in the window).
    h = await startHarness({ patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = 2) });
  });
  afterAll(async () => {
    await h?.close();
  });

  const call = (token: string) => h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });

  it('healthy AS: 40 forged tokens (20 at once) within one cooldown -> one fetch, all 401', async () => {
    const cnf = cnfX5t(h.pki.client1.x5tS256);
    expect((await call(await h.issuer.mint({ cnf }))).status).toBe(200);
    await sleep(1100); // keys past JWKS_MISS_MIN_AGE_MS: the first miss may fetch
    const foreign = (await generateKeyPair('ES256')).privateKey;
    const forged = async (i: number) =>
      i % 2 === 0 ? h.issuer.mint({ cnf }, { kid: `random-${i}` }) : h.issuer.mint({ cnf }, { key: foreign, header: { kid: undefined } });
    const before = h.issuer.jwksFetches;
    const burst = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await call(await forged(i))).status));
    const rest: number[] = [];
    for (let i = 20; i < 40; i++) rest.push((await call(await forged(i))).status);
    expect({ statuses: [...new Set([...burst, ...rest])], fetches: h.issuer.jwksFetches - before }).toEqual({ statuses: [401], fetches: 1 });
  });

  it('failing AS: forged tokens every 100 ms for 3 s -> at most one fetch per 2 s cooldown, 503 with Retry-After', async () => {
    await sleep(2100); // past the cooldown of the test above
    h.issuer.mode = 'down';
    const cnf = cnfX5t(h.pki.client1.x5tS256);
    const foreign = (await generateKeyPair('ES256')).privateKey;
    const before = h.issuer.jwksFetches;
    const statuses = new Set<number>();
    const start = Date.now();
    for (let i = 0; i < 40 && Date.now() - start < 3000; i++) {
      const token = i % 2 === 0 ? await h.issuer.mint({ cnf }, { kid: `down-${i}` }) : await h.issuer.mint({ cnf }, { key: foreign, header: { kid: undefined } });
      const r = await call(token);
      statuses.add(r.status);
      if (r.status === 503) expect(r.headers['retry-after']).toBeDefined();
      await sleep(100);
    }
    const fetches = h.issuer.jwksFetches - before;
    h.issuer.mode = 'ok';
    expect([...statuses]).toEqual([503]);
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(2); // t = 0 and t >= 2 s
  });
});
