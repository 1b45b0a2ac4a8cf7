// Found in review (fixed; the test failed before): server.workers: 2, a worker replaced after the config
// file was edited to another server.listen (the running workers logged needs_restart: ["listen"] and kept
// the old port). The replacement read the file as it was and listened on the new port: the pod served on
// both ports, one worker each, until a restart. Now the primary passes its restart-only settings (listen,
// workers, admin, handshake_timeout_ms) to every worker it forks, and a replacement applies them over the
// file it reads (logging which the file changed); everything else comes from the current file.
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { eventually, freePort, gatewayConfig, killAll, mtlsCall, startCluster, uniquePrefix, workerPids, world, writeConfig, type Proc, type World } from '../support/cluster-procs.js';

let w: World;
beforeAll(async () => {
  w = await world('restart-only');
}, 120_000);
afterAll(async () => {
  killAll();
  await w?.issuer.close();
  await w?.upstream.close();
});

const tcpOpen = (port: number): Promise<boolean> =>
  new Promise((ok) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(2000, () => (s.destroy(), ok(false)));
    s.once('connect', () => (s.destroy(), ok(true)));
    s.once('error', () => ok(false));
  });

describe('a worker replaced after the config file changed (server.workers: 2)', () => {
  it('listens on the running port only (server.listen from the primary), and serves the routes of the file', async () => {
    const apiPort = await freePort();
    const adminPort = await freePort();
    const prefix = uniquePrefix('restart-only');
    const file = writeConfig(w, 'listen', gatewayConfig(w, { apiPort, adminPort, workers: 2, prefix }));
    let p: Proc | undefined;
    try {
      p = await startCluster(w, file, adminPort, 2);
      const newPort = await freePort();
      const edited = gatewayConfig(w, { apiPort: newPort, adminPort, workers: 2, prefix });
      // A reloadable change too: the replacement must take it from the file, not from the primary.
      edited.routes.push({ ...edited.routes[0]!, id: 'b', match: { methods: ['GET'], path_prefix: '/b' } });
      writeFileSync(file, stringify(edited));
      process.kill(p.child.pid!, 'SIGHUP');
      const lp = p;
      await eventually(async () => lp.lines.filter((l) => l.msg === 'config reloaded').length >= 2, 15_000);
      const [victim] = workerPids(p);
      process.kill(victim!, 'SIGKILL');
      await eventually(async () => workerPids(lp).length >= 3, 15_000);
      const replacement = lp.lines.filter((l) => l.msg === 'fapi-gateway listening').at(-1)!;
      expect({ api: replacement.api, newPortOpen: await tcpOpen(newPort) }).toEqual({ api: `https://127.0.0.1:${apiPort}`, newPortOpen: false });
      expect(lp.lines.find((l) => l.pid === replacement.pid && l.needs_restart !== undefined)).toMatchObject({ needs_restart: ['listen'] });
      // Fresh connections until the replacement answers one on the route only the edited file has.
      const servedB = (): boolean => lp.lines.some((l) => l.msg === 'allow' && l.route === 'b' && l.pid === replacement.pid);
      for (let i = 0; i < 20 && !servedB(); i++) {
        expect((await Promise.all(Array.from({ length: 4 }, () => mtlsCall(w, apiPort, '/b/1')))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
        await eventually(async () => lp.lines.filter((l) => l.route === 'b').length >= 4 * (i + 1), 5000);
      }
      expect(servedB()).toBe(true);
    } finally {
      killAll();
    }
  }, 60_000);
});
