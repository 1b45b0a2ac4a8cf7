// Found in review (fixed; the test failed before): server.workers: 2, a worker that hangs (a synchronous
// loop, a wedged event loop; SIGSTOP stands for it here). The primary made /readyz 503 after 3 s ("worker
// N not reporting") and did nothing more: the worker was never killed or replaced and /livez (answered by
// the primary) stayed 200, so the pod left the Service for good with a healthy worker idle beside it. Now
// the primary's watchdog SIGKILLs a worker silent for 10 s, logs why, and forks its replacement: readiness
// comes back by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, gatewayConfig, killAll, killPid, pidAlive, readyz, startCluster, uniquePrefix, workerPids, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('hung');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('a hung worker (server.workers: 2)', () => {
  it('is killed after 10 s of silence and replaced: readiness back to 200', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(w, 'hung', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('hung') }));
    let p: Proc | undefined;
    let frozen: number | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const lp = p;
      frozen = workerPids(p)[0]!;
      process.kill(frozen, 'SIGSTOP');
      // Silent for 10 s, then a fresh worker has to start: 40 s is generous on a loaded machine.
      await eventually(async () => !pidAlive(frozen!) && workerPids(lp).length >= 3, 40_000);
      await eventually(async () => (await readyz(adminPort)) === 200, 20_000);
      const why = lp.lines.find((l) => l.msg === 'worker not reporting; killing it');
      // At warn: what level-based alerting watches.
      expect(why).toMatchObject({ level: 'warn', role: 'primary', pid: frozen, limit_ms: 10_000 });
      expect(why!.silent_ms).toBeGreaterThan(10_000);
    } finally {
      killPid(frozen, 'SIGKILL');
      killAll();
    }
  }, 90_000);
});
