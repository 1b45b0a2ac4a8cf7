// Found in review (fixed; the test failed before): DPOP-22, Q-13. In `redis.mode: cluster` a claim whose reply is lost (the node's
// connection closes after Redis ran the SET NX: a node crash or a network cut at the wrong moment) is
// sent again by ioredis' Cluster (retryDelayOnFailover, 100 ms by default, on "Connection is closed."),
// so the claim reads as a replay of itself: the client gets 401 invalid_dpop_proof ("already used") for
// a proof that was never forwarded, instead of 503 + Retry-After. src/replay/redis.ts set
// maxRetriesPerRequest: 0 / autoResendUnfulfilledCommands: false for exactly this reason ("never resend
// a SET NX whose reply was lost"), but the Cluster branch did not turn off the Cluster's own resend on a
// closed connection (retryDelayOnFailover: now 0). Fail-closed held (no double acceptance); the error was wrong.
import type { ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { freePort, startRedis, stopRedis, uniquePrefix, until, withRedis } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { caller, type Caller } from '../support/dpop-caller.js';

/** TCP proxy to a node; `cutAfterNextSet` forwards the next SET NX of `prefix` and drops its reply by closing. */
async function startProxy(listenPort: number, target: number, prefix: string) {
  let cut = false;
  const socks = new Set<Socket>();
  const server: Server = createServer((c) => {
    const r = connect(target, '127.0.0.1');
    socks.add(c).add(r);
    let armed = false;
    c.on('data', (d: Buffer) => {
      if (cut && d.includes(Buffer.from(prefix)) && /SET/i.test(d.toString('latin1')) && !d.includes(Buffer.from('readiness'))) {
        cut = false;
        armed = true;
      }
      r.write(d);
    });
    r.on('data', (d: Buffer) => {
      if (armed) {
        // Redis ran the SET NX; its reply never reaches the gateway.
        c.destroy();
        r.destroy();
        return;
      }
      c.write(d);
    });
    const end = () => { c.destroy(); r.destroy(); socks.delete(c); socks.delete(r); };
    c.on('error', end); r.on('error', end); c.on('close', end); r.on('close', end);
  });
  await new Promise<void>((ok) => server.listen(listenPort, '127.0.0.1', ok));
  return {
    cutAfterNextSet: () => void (cut = true),
    async close() {
      for (const s of socks) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

let issuer: TestIssuer;
let upstream: TestUpstream;
const nodes: ChildProcess[] = [];
const proxies: Awaited<ReturnType<typeof startProxy>>[] = [];
let h: Harness;
let c: Caller;
const prefix = uniquePrefix('review-cluster');

beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  // Three masters, each announcing the port of its own proxy, so every cluster connection goes through one.
  const ports: number[] = [];
  const proxyPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    ports.push(await freePort());
    proxyPorts.push(await freePort());
  }
  for (let i = 0; i < 3; i++) {
    nodes.push(await startRedis(ports[i]!, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${ports[i]}.conf`, '--cluster-announce-ip', '127.0.0.1', '--cluster-announce-port', String(proxyPorts[i])]));
    proxies.push(await startProxy(proxyPorts[i]!, ports[i]!, prefix));
  }
  const ranges = [['0', '5460'], ['5461', '10922'], ['10923', '16383']];
  for (let i = 0; i < 3; i++) await withRedis(ports[i]!, (r) => r.call('CLUSTER', 'ADDSLOTSRANGE', ...ranges[i]!));
  for (let i = 1; i < 3; i++) await withRedis(ports[0]!, (r) => r.call('CLUSTER', 'MEET', '127.0.0.1', String(ports[i])));
  for (const p of ports) {
    expect(await until(async () => withRedis(p, async (r) => String(await r.call('CLUSTER', 'INFO')).includes('cluster_state:ok')), 15_000, 100)).toBe(true);
  }
  h = await startHarness({
    issuer,
    upstream,
    patch: (cfg) => {
      cfg.replay = { store: 'redis', redis: { mode: 'cluster', nodes: proxyPorts.map((port) => ({ host: '127.0.0.1', port })), key_prefix: prefix, command_timeout_ms: 250, connect_timeout_ms: 500 } };
    },
  });
  c = await caller(issuer);
}, 40_000);
afterAll(async () => {
  await h?.close();
  for (const p of proxies) await p.close();
  for (const n of nodes) await stopRedis(n);
  await issuer?.close();
  await upstream?.close();
});

describe('DPOP-22 cluster mode: a claim whose reply was lost', () => {
  it('DPOP-22: answers 503 with Retry-After, not 401 "already used" for a proof never forwarded', async () => {
    expect(await until(async () => (await fetch(`${h.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
    const ok = await c.fresh();
    expect((await c.send(h, ok.token, ok.proof)).status).toBe(200);

    const { token, proof: p } = await c.fresh();
    for (const p of proxies) p.cutAfterNextSet();
    const before = upstream.received.length;
    const r = await c.send(h, token, p);
    expect(upstream.received.length).toBe(before);
    expect({ status: r.status, retryAfter: r.headers['retry-after'], challenge: r.headers['www-authenticate'] }).toEqual({
      status: 503,
      retryAfter: '1',
      challenge: undefined,
    });
  });
});
