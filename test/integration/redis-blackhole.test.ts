// Found in review; failed on the code before its fix.
// A Redis connection that stops answering without closing (frozen master, network black hole, failover
// behind a VIP): new connections would work, but the gateway keeps using the dead one.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { uniquePrefix, until } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

interface Proxy { server: Server; port: number; freezeExisting(): void; close(): Promise<void> }

async function startProxy(targetPort: number): Promise<Proxy> {
  const live = new Set<{ c: Socket; r: Socket }>();
  const frozen: Socket[] = [];
  const server = createServer((c) => {
    const r = connect(targetPort, '127.0.0.1');
    const pair = { c, r };
    live.add(pair);
    c.pipe(r);
    r.pipe(c);
    const end = () => { live.delete(pair); c.destroy(); r.destroy(); };
    c.on('error', end); r.on('error', end); c.on('close', end); r.on('close', end);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    server,
    port: (server.address() as { port: number }).port,
    freezeExisting() {
      // Black hole: nothing more is forwarded either way, and the client connection is not closed.
      for (const { c, r } of live) {
        c.unpipe(r); r.unpipe(c); c.pause(); r.pause();
        frozen.push(c, r);
      }
      live.clear();
    },
    async close() {
      for (const s of frozen) s.destroy();
      for (const { c, r } of live) { c.destroy(); r.destroy(); }
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

let issuer: TestIssuer;
let upstream: TestUpstream;
let key: DpopKey;
let proxy: Proxy;
let h: Harness;

beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  key = await dpopKey();
  proxy = await startProxy(6379);
  const url = `redis://127.0.0.1:${proxy.port}`;
  h = await startHarness({
    issuer,
    upstream,
    env: { TEST_REDIS_URL: url },
    patch: (c) => {
      c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('review-blackhole'), command_timeout_ms: 250, connect_timeout_ms: 500 } };
    },
  });
}, 30_000);
afterAll(async () => {
  await h?.close();
  await proxy?.close();
  await issuer?.close();
  await upstream?.close();
});

const dpopOk = async () => {
  const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
  const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
  return h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
};
const ready = async () => (await fetch(`${h.adminUrl}/readyz`)).status;

describe('DPOP-22 recovery: a Redis connection that silently stops answering', () => {
  it('is abandoned after command timeouts: DPoP requests and readiness recover while a fresh connection works', async () => {
    expect(await until(async () => (await ready()) === 200, 10_000)).toBe(true);
    expect((await dpopOk()).status).toBe(200);

    proxy.freezeExisting();
    expect((await dpopOk()).status).toBe(503);

    // A new connection to the same address would answer at once; give the gateway 15 s to notice.
    const recovered = await until(async () => (await dpopOk()).status === 200, 15_000, 250);
    const readyNow = await ready();
    expect({ recovered, readyNow }).toEqual({ recovered: true, readyNow: 200 });
  }, 40_000);
});
