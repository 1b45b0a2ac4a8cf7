// DPOP-22 / README (`replay.memory_max_entries`): "A reload that changes only this resizes the running
// store". No test said the new size takes effect (only that the used jtis are kept): removing the
// resize left the suite green. A store reloaded to 1000 entries takes 1000 fresh proofs, and the next one
// gets 503 (full, fail closed) rather than being accepted unrecorded.
import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/client.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt } from '../support/issuer.js';

let h: Harness;
let key: DpopKey;
let agent: Agent;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
  agent = new Agent({ keepAlive: true, maxSockets: 1 });
});
afterAll(async () => {
  agent?.destroy();
  await h?.close();
});

describe('DPOP-22: replay.memory_max_entries applies to the running store on reload', () => {
  it('reloaded to 1000: 1000 fresh proofs pass, the 1001st gets 503 (store full)', async () => {
    h.reload((c) => (c.replay = { store: 'memory', memory_max_entries: 1000 }));
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
    const call = async () =>
      request(h.url('/dpop/x'), {
        ca: h.pki.ca.certPem,
        servername: 'localhost',
        agent,
        headers: [
          ['Authorization', `DPoP ${token}`],
          ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token })],
        ],
      });
    for (let i = 0; i < 1000; i++) {
      const r = await call();
      if (r.status !== 200) throw new Error(`proof ${i + 1} got ${r.status}`);
    }
    const full = await call();
    expect(full.status).toBe(503);
    expect(await logFor(h, full.headers['x-fapi-interaction-id'] as string)).toMatchObject({ reason: 'GW_REPLAY_STORE_UNAVAILABLE', detail: expect.stringContaining('store full (1000 live entries)') });
  }, 60_000);
});
