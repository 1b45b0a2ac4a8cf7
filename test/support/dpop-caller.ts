// A DPoP client for replay-store tests: fresh tokens and proofs, sent to a harness; a gateway on a given
// Redis with its own key prefix; and one on a private redis-server, for tests that break Redis.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dpopKey, proof, type DpopKey } from './dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from './gateway.js';
import { cnfJkt, startIssuer, type TestIssuer } from './issuer.js';
import { testPki } from './pki.js';
import { freePort, startRedis, stopRedis, uniquePrefix } from './redis.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const redisPatch =
  (prefix: string, extra: Record<string, unknown> = {}) =>
  (c: Record<string, any>): void => {
    c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: prefix, command_timeout_ms: 250, connect_timeout_ms: 500, ...extra } };
  };

export function redisHarness(issuer: TestIssuer, upstream: TestUpstream, url: string, prefix: string, extra: Record<string, unknown> = {}): Promise<Harness> {
  return startHarness({ issuer, upstream, patch: redisPatch(prefix, extra), env: { TEST_REDIS_URL: url } });
}

export interface Caller {
  readonly key: DpopKey;
  /** A fresh token and proof for `path`. */
  fresh(path?: string): Promise<{ token: string; proof: string }>;
  send(h: Harness, token: string, p: string, path?: string): ReturnType<Harness['call']>;
}

export async function caller(issuer: TestIssuer): Promise<Caller> {
  const key = await dpopKey();
  return {
    key,
    async fresh(path = '/dpop/x') {
      const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
      return { token, proof: await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}${path}`, token }) };
    },
    send: (h, token, p, path = '/dpop/x') => h.call(path, { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] }),
  };
}

/** A gateway on a private redis-server, with its own issuer and upstream: for tests that stop, restart or reconfigure Redis. */
export interface PrivateRedisGateway {
  readonly issuer: TestIssuer;
  readonly upstream: TestUpstream;
  readonly port: number;
  readonly prefix: string;
  readonly h: Harness;
  readonly c: Caller;
  readonly redis: ChildProcess;
  /** Kills redis-server (no save) and starts it again on the same port and directory: empty, unless persisted. */
  crashAndRestart(): Promise<void>;
  close(): Promise<void>;
}

/** `dpopFutureS`: dpop.iat_future_s (the harness's default is 0). */
export async function privateRedisGateway(what: string, redisArgs: readonly string[] = [], dpopFutureS = 0): Promise<PrivateRedisGateway> {
  const issuer = await startIssuer({ pki: await testPki() });
  const upstream = await startUpstream();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fapi-redis-'));
  let redis = await startRedis(port, redisArgs, dir);
  const prefix = uniquePrefix(what);
  const h = await startHarness({
    issuer,
    upstream,
    patch: (c) => {
      redisPatch(prefix)(c);
      c.dpop = { ...c.dpop, iat_future_s: dpopFutureS };
    },
    env: { TEST_REDIS_URL: `redis://127.0.0.1:${port}` },
  });
  const c = await caller(issuer);
  return {
    issuer,
    upstream,
    port,
    prefix,
    h,
    c,
    get redis() {
      return redis;
    },
    async crashAndRestart() {
      await stopRedis(redis, 'SIGKILL');
      redis = await startRedis(port, redisArgs, dir);
    },
    async close() {
      await h.close();
      await stopRedis(redis);
      await issuer.close();
      await upstream.close();
    },
  };
}
