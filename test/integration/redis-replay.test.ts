// DPOP-21, DPOP-22, Q-13: the Redis replay store shared by two gateway instances, and Redis stopped
// mid-run: DPoP routes fail closed with 503, mTLS routes keep working, recovery without a restart.
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { freePort, SHARED_REDIS_URL, startRedis, stopRedis, uniquePrefix, until } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const redisPatch = (url: string, prefix: string) => (c: Record<string, any>) => {
  c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: prefix, command_timeout_ms: 250, connect_timeout_ms: 500 } };
};

let issuer: TestIssuer;
let upstream: TestUpstream;
let key: DpopKey;
beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  key = await dpopKey();
});
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

const dpopCall = async (h: Harness, token: string, p: string, path = '/dpop/x') =>
  h.call(path, { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });

describe('DPOP-21: one jti store for every replica (shared Redis)', () => {
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    const prefix = uniquePrefix('replay');
    const opts = { issuer, upstream, patch: redisPatch(SHARED_REDIS_URL, prefix), env: { TEST_REDIS_URL: SHARED_REDIS_URL } };
    a = await startHarness(opts);
    b = await startHarness(opts);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('a proof replayed against a second gateway instance is refused', async () => {
    const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
    expect((await dpopCall(a, token, p)).status).toBe(200);
    const replay = await dpopCall(b, token, p);
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
    expect((await dpopCall(a, token, p)).status).toBe(401);
  });

  it('50 concurrent requests with the same proof across two instances -> exactly one 200', async () => {
    const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
    const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => dpopCall(i % 2 === 0 ? a : b, token, p).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(49);
  });
});

describe('DPOP-22 / Q-13: Redis stopped mid-run', () => {
  let redis: ChildProcess;
  let port: number;
  let h: Harness;
  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    h = await startHarness({ issuer, upstream, patch: redisPatch(url, uniquePrefix('outage')), env: { TEST_REDIS_URL: url } });
  });
  afterAll(async () => {
    await h?.close();
    await stopRedis(redis);
  });

  it('DPoP routes answer 503 with Retry-After, mTLS routes still 200, readiness 503; all recover when Redis returns', async () => {
    const dpopOk = async () => {
      const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
      return dpopCall(h, token, await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token }));
    };
    const mtls = async () =>
      h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) })}`]] });
    const ready = async () => (await fetch(`${h.adminUrl}/readyz`)).status;
    // Readiness waits for the store to take a write once: start from a ready gateway.
    expect(await until(async () => (await ready()) === 200)).toBe(true);
    expect((await dpopOk()).status).toBe(200);
    // Operators can tell the gateway's connections apart (this Redis serves only this gateway).
    const admin = new Redis(`redis://127.0.0.1:${port}`);
    try {
      expect(String(await admin.client('LIST'))).toMatch(/ name=fapi-gateway /);
    } finally {
      admin.disconnect();
    }

    await stopRedis(redis);
    const before = upstream.received.length;
    const down = await dpopOk();
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(upstream.received.length).toBe(before);
    expect((await mtls()).status).toBe(200);
    // Still ready (found in review): every replica shares the store, and unready replicas would take
    // the mTLS routes down too.
    expect(await ready()).toBe(200);

    redis = await startRedis(port);
    expect(await until(async () => (await dpopOk()).status === 200, 10_000, 100)).toBe(true);
    expect(await until(async () => (await ready()) === 200)).toBe(true);
    const metrics = await h.gw.metrics.registry.getSingleMetricAsString('fapi_gateway_requests_total');
    expect(metrics).toMatch(/reason="GW_REPLAY_STORE_UNAVAILABLE",status="503"\} [1-9]/);
  });
});
