// Found in review (fixed; the test failed before): newcomer walk-through: README "Run it on your own config": `npx fapi-gateway --config my-gateway.yaml
// # start; logs the addresses it listens on`. A single process does ("fapi-gateway listening" with `api`
// and `admin`, src/main.ts:383). With `server.workers` > 1 the admin listener (/livez, /readyz,
// /metrics) belongs to the primary (src/cluster.ts:127 listenAdmin), which logs only
// `primary started workers` with a count (src/cluster.ts:210); the workers log `api` alone. So the
// address an operator points Prometheus and the probes at is never logged, and with `admin.listen` on
// port 0 (as the demo's config has it) it cannot be found at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, eventually, freePort, gatewayConfig, killAll, spawnCli, uniquePrefix, workerPids, world, writeConfig, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('review-newcomer-admin');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

describe('server.workers: 2 (review: newcomer)', () => {
  it('the start logs the admin listener\'s address, as a single process does', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const file = writeConfig(w, 'admin', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix: uniquePrefix('review-newcomer-admin') }));
    const p = spawnCli(w.cliJs, ['--config', file]);
    try {
      await eventually(async () => workerPids(p).length >= 2 || p.exitedYet(), 20_000);
      expect(p.exitedYet(), p.stderr()).toBe(false);
      // The admin listener is up (the primary answers) ...
      await eventually(async () => (await adminGet(`http://127.0.0.1:${adminPort}/livez`, 2000).then((r) => r.status, () => 0)) === 200, 10_000);
      // ... and some line of the start says where.
      const admin = `http://127.0.0.1:${adminPort}`;
      const said = p.lines.filter((l) => Object.values(l).some((v) => typeof v === 'string' && v.includes(admin)));
      expect(said.map((l) => l.msg), 'no log line names the admin address').not.toEqual([]);
    } finally {
      p.child.kill('SIGKILL');
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }, 60_000);
});
