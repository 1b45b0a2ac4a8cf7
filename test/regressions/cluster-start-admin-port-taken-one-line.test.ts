// Found in review (fixed; the test failed before): `server.workers: 2` with the admin port taken. The
// start failed (exit 1, the right first line), but the primary forked the workers before it bound the
// admin port and then exited at once: every worker, still booting, died on its IPC channel with an
// "Unhandled 'error' event ... write EPIPE" stack trace on the same stderr, so the operator saw two Node
// stack traces after the real reason. Now the primary binds the admin listener before it forks a worker
// (and a worker's reports to a primary gone are no uncaught 'error'): stderr is the one line the README
// promises.
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, gatewayConfig, killAll, pidAlive, sleep, spawnCli, uniquePrefix, workerPids, world, writeConfig, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('admin-taken');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('fapi-gateway start, server.workers: 2, admin port taken', () => {
  it('prints one line on stderr and no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    const adminPort = (taken.address() as AddressInfo).port;
    const file = writeConfig(w, 'admin-taken', gatewayConfig(w, { apiPort: await freePort(), adminPort, workers: 2, prefix: uniquePrefix('admin-taken') }));
    try {
      const p = spawnCli(w.cliJs, ['--config', file]);
      const r = await Promise.race([p.exited, sleep(10_000).then(() => 'still running')]);
      await sleep(1500); // the workers' own stderr, if any
      const lines = p.stderr().split('\n').filter((l) => l !== '');
      expect({ r, lines, workersLeft: workerPids(p).filter(pidAlive) }).toEqual({
        r: { code: 1, signal: null },
        lines: [`fapi-gateway: listen EADDRINUSE: address already in use 127.0.0.1:${adminPort}`],
        workersLeft: [],
      });
    } finally {
      taken.close();
      killAll();
    }
  }, 30_000);
});
