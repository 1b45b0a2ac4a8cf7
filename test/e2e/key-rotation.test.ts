// E2E: the AS rotates its signing key (new kid first in its JWKS). The gateway holds the old JWKS; a
// token with the new kid misses, triggers one refetch (jwks_refetch_cooldown_s: 3 in test/e2e/world.ts), and is accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/authorization-server.js';
import type { DpopKey } from '../../scripts/lib/tpp.js';
import { API, decodeJwt, startWorld, type World } from './world.js';

let w: World;
let key: DpopKey;
beforeAll(async () => {
  w = await startWorld();
  key = await w.tpp.dpop.dpopKey('ES256');
});
afterAll(async () => {
  await w?.close();
});

const jwksFetches = (): number => w.logLines().filter((l) => l.msg === 'jwks fetched').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('JWT-4: AS signing key rotation', () => {
  it('a token signed with the new key is accepted after one kid-miss refetch; tokens of the old key keep working', async () => {
    const before = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: key });
    const oldKid = decodeJwt(before).header.kid as string;
    expect((await w.tpp.dpop.call(before, w.url('/accounts/1'), { dpop: key })).status).toBe(200);
    const fetchesBefore = jwksFetches();
    expect(fetchesBefore).toBeGreaterThanOrEqual(1);

    const next = await w.as.rotateSigningKey('PS256');
    expect(next.kid).not.toBe(oldKid);
    await sleep(3100); // past the gateway's refetch cooldown (3 s)

    const after = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: key });
    expect(decodeJwt(after).header.kid).toBe(next.kid);
    const a = await w.tpp.dpop.call(after, w.url('/accounts/2'), { dpop: key });
    expect(a.status).toBe(200);
    expect((await w.logFor(a.interactionId))?.reason).toBe('OK');
    expect(jwksFetches()).toBe(fetchesBefore + 1);

    // The previous key is still published: the token it signed still works.
    expect((await w.tpp.dpop.call(before, w.url('/accounts/3'), { dpop: key })).status).toBe(200);
  });

  it('a key rotated again within the cooldown: refused (401, no refetch storm) until the cooldown passes, then accepted', async () => {
    // Keys made beforehand: between the refetch and the early call there is only a token request.
    const [k1, k2] = await Promise.all([generateSigningKey('PS256'), generateSigningKey('PS256')]);
    await sleep(3100);
    const first = await w.as.rotateSigningKey('PS256', { keepOld: false, key: k1 });
    const t1 = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: key });
    expect(decodeJwt(t1).header.kid).toBe(first.kid);
    expect((await w.tpp.dpop.call(t1, w.url('/accounts/5'), { dpop: key })).status).toBe(200);
    const fetches = jwksFetches();

    const second = await w.as.rotateSigningKey('PS256', { keepOld: false, key: k2 });
    const t2 = await w.tpp.dpop.clientCredentials({ resource: API, scope: 'accounts', dpop: key });
    expect(decodeJwt(t2).header.kid).toBe(second.kid);
    const early = await w.tpp.dpop.call(t2, w.url('/accounts/6'), { dpop: key });
    expect(early.status).toBe(401);
    expect(early.error).toBe('invalid_token');
    expect((await w.logFor(early.interactionId))?.reason).toBe('GW_TOKEN_INVALID');
    expect(jwksFetches()).toBe(fetches);

    await sleep(3100);
    const late = await w.tpp.dpop.call(t2, w.url('/accounts/6'), { dpop: key });
    expect(late.status).toBe(200);
    expect(jwksFetches()).toBe(fetches + 1);
  });
});
