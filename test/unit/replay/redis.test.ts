import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { RedisReplayStore } from '../../../src/replay/redis.js';
import { freePort, runningRedis, startRedis, stopRedis as stop, until } from '../../support/redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `fapi-test:${process.pid}:${Date.now()}:`;

const claimError = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);
const isUnavailable = (e: unknown): boolean => e instanceof GatewayError && e.code === 'GW_REPLAY_STORE_UNAVAILABLE';

describe('RedisReplayStore (DPOP-21, DPOP-22)', () => {
  const store = new RedisReplayStore({ mode: 'standalone', url: REDIS_URL });
  const admin = new Redis(REDIS_URL);
  const stores: RedisReplayStore[] = [store];

  beforeAll(async () => {
    expect(await until(() => store.ping(), 3000)).toBe(true);
  });

  afterAll(async () => {
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await Promise.all(stores.map((s) => s.close()));
    await admin.quit();
    for (const c of runningRedis()) await stop(c);
  });

  it('DPOP-21 the first claim is true, the second false', async () => {
    expect(await store.claim(`${PREFIX}once`, 60_000)).toBe(true);
    expect(await store.claim(`${PREFIX}once`, 60_000)).toBe(false);
    expect(await store.claim(`${PREFIX}other`, 60_000)).toBe(true);
  });

  it('DPOP-21 50 concurrent claims of one key: exactly one is true (atomic SET NX)', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim(`${PREFIX}race`, 60_000)));
    expect(results.filter((r) => r)).toHaveLength(1);
  });

  it('DPOP-21 the key carries the TTL (PX)', async () => {
    await store.claim(`${PREFIX}ttl`, 310_000);
    const pttl = await admin.pttl(`${PREFIX}ttl`);
    expect(pttl).toBeGreaterThan(305_000);
    expect(pttl).toBeLessThanOrEqual(310_000);
  });

  it('DPOP-21 a key can be claimed again after its TTL', async () => {
    expect(await store.claim(`${PREFIX}short`, 50)).toBe(true);
    expect(await store.claim(`${PREFIX}short`, 50)).toBe(false);
    await sleep(120);
    expect(await store.claim(`${PREFIX}short`, 50)).toBe(true);
  });

  it('DPOP-22 unreachable Redis: claim fails fast with GW_REPLAY_STORE_UNAVAILABLE, ping is false', async () => {
    const port = await freePort();
    const down = new RedisReplayStore({ mode: 'standalone', url: `redis://127.0.0.1:${port}` });
    stores.push(down);
    const t0 = Date.now();
    const err = await claimError(down.claim(`${PREFIX}down`, 60_000));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(isUnavailable(err)).toBe(true);
    expect((err as GatewayError).retryAfterS).toBe(1);
    expect((err as GatewayError).status).toBe(503);
    expect(await down.ping()).toBe(false);
    // Still failing after the first reconnect attempts, and still fast.
    await sleep(300);
    const t1 = Date.now();
    expect(isUnavailable(await claimError(down.claim(`${PREFIX}down`, 60_000)))).toBe(true);
    expect(Date.now() - t1).toBeLessThan(2000);
  });

  it('DPOP-22 a Redis that stops answering times out (commandTimeout) into GW_REPLAY_STORE_UNAVAILABLE', async () => {
    const port = await freePort();
    const child = await startRedis(port);
    const s = new RedisReplayStore({ mode: 'standalone', url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 200 });
    stores.push(s);
    expect(await until(() => s.ping(), 3000)).toBe(true);
    child.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      const err = await claimError(s.claim(`${PREFIX}hang`, 60_000));
      expect(isUnavailable(err)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      child.kill('SIGCONT');
    }
    await stop(child);
  });

  it('DPOP-22 recovers by itself when Redis comes back, without recreating the store', async () => {
    const port = await freePort();
    let child = await startRedis(port);
    const s = new RedisReplayStore({ mode: 'standalone', url: `redis://127.0.0.1:${port}` });
    stores.push(s);
    expect(await until(async () => (await s.claim(`${PREFIX}r0`, 60_000).catch(() => false)) === true, 3000)).toBe(true);

    await stop(child);
    // Fails closed: every claim is a 503, none is accepted unchecked.
    expect(await until(async () => isUnavailable(await claimError(s.claim(`${PREFIX}r1`, 60_000))), 2000)).toBe(true);
    expect(await s.ping()).toBe(false);
    await sleep(500);
    expect(isUnavailable(await claimError(s.claim(`${PREFIX}r1`, 60_000)))).toBe(true);

    child = await startRedis(port);
    const back = await until(async () => (await s.claim(`${PREFIX}r2`, 60_000).catch(() => false)) === true, 8000, 100);
    expect(back).toBe(true);
    expect(await s.claim(`${PREFIX}r2`, 60_000)).toBe(false);
    expect(await s.ping()).toBe(true);
    await s.close();
    await stop(child);
  });

  it('DPOP-22 the constructor does not throw while Redis is down, and close() stops reconnecting', async () => {
    const port = await freePort();
    const s = new RedisReplayStore({ mode: 'standalone', url: `redis://127.0.0.1:${port}` });
    await sleep(50);
    await s.close();
    expect(await s.ping()).toBe(false);
  });

  it('DPOP-22 errors are reported through onError, never thrown as uncaught events', async () => {
    const port = await freePort();
    const seen: Error[] = [];
    const s = new RedisReplayStore({ mode: 'standalone', url: `redis://127.0.0.1:${port}`, onError: (e) => seen.push(e) });
    stores.push(s);
    expect(await until(async () => seen.length > 0, 2000)).toBe(true);
    await s.close();
  });
});
