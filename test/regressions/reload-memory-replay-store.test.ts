// Found in review (fixed; the test failed before): with replay.store: memory, a reload that only adds (or edits) the unused replay.redis
// section builds a new, empty memory store: every DPoP proof used in the last proof window can be replayed
// (DPOP-21). README: "A reload that changes only this [memory_max_entries] resizes the running store (the
// used jtis are kept)" and only a change of `key_prefix` "(or the store)" forgets the used jtis.
// Cause: src/main.ts:122-124 keys the store on the whole replay section (incl. replay.redis) and the Redis
// secrets, even when the store is memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof } from '../support/dpop.js';
import { cnfJkt } from '../support/issuer.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';

let h: Harness;
beforeAll(async () => {
  // REDIS_URL only satisfies the loader for the (unused) redis section; nothing connects to it.
  h = await startHarness({ env: { REDIS_URL: 'redis://127.0.0.1:1' } });
});
afterAll(async () => {
  await h?.close();
});

describe('DPOP-21: memory replay store across a reload of the unused redis section', () => {
  it('a used DPoP proof is still refused as a replay after the reload', async () => {
    const key = await dpopKey();
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/1`, token });
    const send = () => h.call('/dpop/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(401); // replay refused before the reload

    h.reload((c) => {
      // store stays memory; an operator prepares the Redis settings for a later switch
      c.replay = { store: 'memory', redis: { mode: 'standalone', url_env: 'REDIS_URL' } };
    });
    const forwardedBefore = h.upstream.received.length;
    const replayed = await send();
    expect(replayed.status, 'captured request replayed after the reload').toBe(401);
    expect(h.upstream.received.length, 'the replay reached the upstream').toBe(forwardedBefore);
  });
});
