// Found in review (fixed; the test failed before): server.workers: 2, SIGTERM to the primary while one
// worker hangs (SIGSTOP here). The primary passed the stop to each worker and waited for every 'exit'
// without a bound, so a worker that never exits kept the primary (and, in round-robin mode, the listening
// socket it owns) alive until an outside SIGKILL. Now Primary.stop() SIGKILLs the workers still there
// server.drain_timeout_ms + 5 s after the stop (1 s + 5 s here), logs which, and the primary exits 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, gatewayConfig, killAll, killPid, loadBothWorkers, pidAlive, sleep, startCluster, uniquePrefix, workerPids, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('stop-deadline');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('SIGTERM to the primary (server.workers: 2), one worker hung', () => {
  it('exits by the stop deadline, having killed the worker that never stopped', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const config = gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('stop-deadline') });
    const file = writeConfig(w, 'stop-deadline', { ...config, server: { ...config.server, drain_timeout_ms: 1000 } });
    let p: Proc | undefined;
    let frozen: number | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      await loadBothWorkers(w, p, apiPort);
      const [hung, healthy] = workerPids(p);
      frozen = hung!;
      process.kill(frozen, 'SIGSTOP');
      const t0 = Date.now();
      process.kill(p.child.pid!, 'SIGTERM');
      // A 6 s deadline; 20 s leaves room on a loaded machine (before the fix: never).
      const r = await Promise.race([p.exited, sleep(20_000).then(() => 'still running after 20 s')]);
      const ms = Date.now() - t0;
      expect({ r, killed: p.lines.find((l) => l.msg === 'worker did not stop by the deadline; killing it')?.pid }).toEqual({ r: { code: 1, signal: null }, killed: frozen });
      expect(ms).toBeGreaterThanOrEqual(5_500); // the healthy worker drained; the hung one had its time
      expect(p.lines.find((l) => l.msg === 'worker did not stop by the deadline; killing it')?.deadline_ms).toBe(6000);
      await sleep(500);
      expect({ hung: pidAlive(frozen), healthy: pidAlive(healthy!) }).toEqual({ hung: false, healthy: false });
    } finally {
      killPid(frozen, 'SIGKILL');
      killAll();
    }
  }, 60_000);
});
