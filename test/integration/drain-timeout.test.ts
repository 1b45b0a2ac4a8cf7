// server.drain_timeout_ms: on SIGTERM, in-flight requests get this long to finish, then their connections
// are cut and the process exits (0: a drain that ran its course is a clean stop). It was a fixed 10 s,
// too short for an API with long requests (uploads, reports) and not the operator's to choose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/client.js';
import { eventually, freePort, gatewayConfig, killAll, readyz, sleep, spawnCli, uniquePrefix, world, writeConfig, type World } from '../support/cluster-procs.js';
import { cnfX5t } from '../support/issuer.js';

let w: World;
beforeAll(async () => {
  w = await world('drain-timeout');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('server.drain_timeout_ms', () => {
  it('a request slower than the drain is cut at drain_timeout_ms, then the process exits 0', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const config = gatewayConfig(w, { apiPort, adminPort, prefix: uniquePrefix('drain-timeout') });
    const file = writeConfig(w, 'drain-timeout', { ...config, server: { ...config.server, drain_timeout_ms: 800 } });
    const p = spawnCli(w.cliJs, ['--config', file]);
    try {
      await eventually(async () => (await readyz(adminPort)) === 200, 20_000);
      w.upstream.delayMs = 5000;
      const token = await w.issuer.mint({ cnf: cnfX5t(w.pki.client1.x5tS256) });
      const slow = request(`https://127.0.0.1:${apiPort}/a/slow`, {
        ca: w.pki.ca.certPem,
        servername: 'localhost',
        cert: w.pki.client1.certPem,
        key: w.pki.client1.keyPem,
        headers: [['Authorization', `Bearer ${token}`]],
      }).then(
        (r) => `answered ${r.status}`,
        () => 'cut',
      );
      await eventually(async () => w.upstream.received.some((r) => r.url === '/a/slow'), 5000);
      const t0 = Date.now();
      p.child.kill('SIGTERM');
      const exit = await Promise.race([p.exited, sleep(4000).then(() => 'still running after 4 s')]);
      expect({ exit, slow: await slow }).toEqual({ exit: { code: 0, signal: null }, slow: 'cut' });
      // Not before the drain deadline: the request had its 800 ms.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(750);
    } finally {
      w.upstream.delayMs = 0;
      killAll();
    }
  }, 60_000);
});
