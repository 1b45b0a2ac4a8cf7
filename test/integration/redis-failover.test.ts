// Found in review; failed on the code before its fix.
// A DNS/VIP-style failover (ElastiCache, Azure Cache, a keepalived VIP): the old primary becomes a replica
// and keeps the gateway's connection open; new connections reach the new primary.
import type { ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { freePort, startRedis, stopRedis, uniquePrefix, until } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

async function startProxy(initial: number): Promise<{ server: Server; port: number; retarget(p: number): void; close(): Promise<void> }> {
  let target = initial;
  const socks = new Set<Socket>();
  const server = createServer((c) => {
    const r = connect(target, '127.0.0.1');
    socks.add(c).add(r);
    c.pipe(r);
    r.pipe(c);
    const end = () => { c.destroy(); r.destroy(); socks.delete(c); socks.delete(r); };
    c.on('error', end); r.on('error', end); c.on('close', end); r.on('close', end);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    server,
    port: (server.address() as { port: number }).port,
    retarget: (p) => void (target = p),
    async close() {
      for (const s of socks) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

let issuer: TestIssuer;
let upstream: TestUpstream;
let key: DpopKey;
let a: ChildProcess;
let b: ChildProcess;
let aPort: number;
let bPort: number;
let proxy: Awaited<ReturnType<typeof startProxy>>;
let h: Harness;

beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  key = await dpopKey();
  aPort = await freePort();
  a = await startRedis(aPort);
  bPort = await freePort();
  b = await startRedis(bPort);
  proxy = await startProxy(aPort);
  const url = `redis://127.0.0.1:${proxy.port}`;
  h = await startHarness({
    issuer,
    upstream,
    env: { TEST_REDIS_URL: url },
    patch: (c) => {
      c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('review-failover'), command_timeout_ms: 250, connect_timeout_ms: 500 } };
    },
  });
}, 30_000);
afterAll(async () => {
  await h?.close();
  await proxy?.close();
  if (a) await stopRedis(a);
  if (b) await stopRedis(b);
  await issuer?.close();
  await upstream?.close();
});

const dpopCall = async () => {
  const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
  const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
  return h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
};
const ready = async () => (await fetch(`${h.adminUrl}/readyz`)).status;

describe('DPOP-22 recovery after a failover', () => {
  it('the old primary turning replica (READONLY) is left for the new primary; readiness does not say ready meanwhile', async () => {
    expect(await until(async () => (await ready()) === 200, 10_000)).toBe(true);
    expect((await dpopCall()).status).toBe(200);

    // Failover: new connections reach B; A becomes B's replica (read-only) and keeps its clients.
    proxy.retarget(bPort);
    const adminA = new Redis(aPort, '127.0.0.1');
    try {
      await adminA.call('REPLICAOF', '127.0.0.1', String(bPort));
    } finally {
      adminA.disconnect();
    }
    await new Promise((r) => setTimeout(r, 500));
    const during = await dpopCall();
    const readyDuring = await ready();
    const recovered = await until(async () => (await dpopCall()).status === 200, 10_000, 250);
    expect({ recovered, first: during.status, readyWhileRefusing: recovered ? 'n/a' : readyDuring }).toEqual({ recovered: true, first: during.status, readyWhileRefusing: 'n/a' });
  }, 40_000);
});
