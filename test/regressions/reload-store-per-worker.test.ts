// Found in review (fixed; the test failed before): DPOP-21 with server.workers. An operator edits a
// 2-worker (Redis store) config to `workers: 1` + `replay.store: memory` and it reloads: each worker
// accepted it (only `workers` needs a restart) and took a memory store of its own, so a DPoP proof used
// at one worker was accepted again at the other, the combination the start refuses. A cluster worker
// now refuses a reload to the memory store (the previous config keeps serving).
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { request } from '../support/client.js';
import { dpopKey, proof } from '../support/dpop.js';
import { cnfJkt } from '../support/issuer.js';
import { eventually, freePort, gatewayConfig, killAll, startCluster, uniquePrefix, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('store');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('server.workers: 2, reload to workers: 1 + memory store', () => {
  it('a DPoP proof is still accepted only once across the workers', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const prefix = uniquePrefix('review-store');
    const file = writeConfig(w, 'store', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix }));
    let p: Proc | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const next = gatewayConfig(w, { apiPort, adminPort, workers: 1, prefix }) as Record<string, any>;
      next.replay = { store: 'memory' };
      writeFileSync(file, stringify(next));
      process.kill(p.child.pid!, 'SIGHUP');
      const lp = p;
      // Both workers answer the reload (accepted or refused): one line each.
      await eventually(async () => lp.lines.filter((l) => l.msg === 'config reloaded' || String(l.msg).startsWith('config reload refused')).length >= 2, 15_000);

      const key = await dpopKey();
      const token = await w.issuer.mint({ cnf: cnfJkt(key.jkt) });
      const dpopProof = await proof(key, { htm: 'GET', htu: 'https://api.test/d/x', token });
      const statuses: number[] = [];
      // Fresh connections: the primary hands them to the workers in turn.
      for (let i = 0; i < 6; i++) {
        const r = await request(`https://127.0.0.1:${apiPort}/d/x`, {
          ca: w.pki.ca.certPem,
          servername: 'localhost',
          headers: [
            ['Authorization', `DPoP ${token}`],
            ['DPoP', dpopProof],
          ],
        });
        statuses.push(r.status);
      }
      expect(statuses.filter((s) => s === 200), `statuses ${statuses}`).toHaveLength(1);
      // Each worker says why (each writes two lines, so the wait above may have seen one worker's).
      const refusedBy = (): number => new Set(lp.lines.filter((l) => String(l.msg).startsWith('config reload refused') && /replay\.store: memory/.test(String(l.detail))).map((l) => l.pid)).size;
      await eventually(async () => refusedBy() === 2, 10_000);
    } finally {
      killAll();
    }
  }, 60_000);
});
