// Found in review (fixed; the test failed before): DPOP-21. With replay.store: memory (the default, and the Helm chart's default) a
// gateway restart (crash, OOM kill, rollout, a ConfigMap change that rolls the pod) starts with an empty
// store and accepts once more every proof the previous process accepted in the last proof window
// (iat_past_s + iat_future_s, 310 s): the DPoP verifier accepted any iat in the window, including proofs
// issued before this process started. Now the store remembers since its start (rememberedSinceMs, from
// the start of that second) and older proofs get 401 GW_DPOP_PROOF_PREDATES_STORE. Left open: a proof used
// by a predecessor within the very second the new process starts (a restart takes longer than that).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { caller, type Caller } from '../support/dpop-caller.js';

let issuer: TestIssuer;
let upstream: TestUpstream;
let c: Caller;
let second: Harness | undefined;
beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  c = await caller(issuer);
});
afterAll(async () => {
  await second?.close();
  await issuer?.close();
  await upstream?.close();
});

describe('DPOP-21 memory replay store across a gateway restart', () => {
  it('DPOP-21: a proof accepted by the previous gateway process is refused by the next one', async () => {
    const first = await startHarness({ issuer, upstream });
    const { token, proof: p } = await c.fresh();
    try {
      expect((await c.send(first, token, p)).status).toBe(200);
      expect((await c.send(first, token, p)).status).toBe(401);
    } finally {
      await first.close(); // SIGTERM and drain, as a rollout or a restart does
    }
    // A restart takes longer than what is left of the second the proof was used in (see above).
    await sleep(1000 - (Date.now() % 1000));
    second = await startHarness({ issuer, upstream });
    const before = upstream.received.length;
    const replay = await c.send(second, token, p);
    expect({ status: replay.status, forwarded: upstream.received.length - before }).toEqual({ status: 401, forwarded: 0 });
    expect(replay.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await logFor(second, replay.headers['x-fapi-interaction-id'] as string)).toMatchObject({ reason: 'GW_DPOP_PROOF_PREDATES_STORE' });
    // A fresh proof is fine: the client recovers by itself.
    const fresh = await c.fresh();
    expect((await c.send(second, fresh.token, fresh.proof)).status).toBe(200);
  });
});
