// Found in review (fixed; the test failed before): README "Hot reload": "with server.workers, a SIGHUP to the whole process group reloads too".
// The bug was: a cluster worker installs its SIGHUP handler (src/cli.ts:321, `process.on('SIGHUP', () => undefined)`)
// only after runWorker() resolved (src/cli.ts:250): until then SIGHUP's default action kills it. A
// group SIGHUP while workers are still starting kills them; during the initial start the primary takes
// that for a failed start (src/cluster.ts:187, "worker failed to start; stopping") and the whole gateway
// exits 1. (A replacement worker killed the same way is retried with a back-off, readiness 503 meanwhile.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, gatewayConfig, killAll, readyz, sleep, spawnCli, uniquePrefix, world, writeConfig, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('workers-hup');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('server.workers: 2, a SIGHUP to the process group while the workers start', () => {
  it('reloads (or is ignored) and the gateway starts; it does not exit', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(w, 'hup-start', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('workers-hup') }));
    const p = spawnCli(w.cliJs, ['--config', file]);
    try {
      // The primary has forked its workers and installed its own SIGHUP handler (right after this line).
      await eventually(async () => p.lines.some((l) => l.msg === 'primary started workers') || p.exitedYet(), 20_000);
      await sleep(50);
      process.kill(-p.child.pid!, 'SIGHUP'); // e.g. `kill -HUP -- -<pgid>`, as the README allows
      let ready = false;
      const until = Date.now() + 20_000;
      while (!ready && !p.exitedYet() && Date.now() < until) {
        ready = (await readyz(adminPort)) === 200;
        if (!ready) await sleep(200);
      }
      // A worker the signal reached before Node ran any of its code is started again (said, not a failure).
      const why = p.lines.filter((l) => l.role === 'primary' && l.level === 'warn' && l.msg !== 'worker ended by SIGHUP while starting; starting a new one').map((l) => l.msg);
      expect({ exited: p.exitedYet(), ready, why }).toEqual({ exited: false, ready: true, why: [] });
    } finally {
      killAll();
    }
  }, 60_000);
});
