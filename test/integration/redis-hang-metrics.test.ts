// Found in review; failed on the code before its fix.
// A Redis that hangs (SIGSTOP): every claim times out (503), and the operator's replay-store error counter
// ("Replay store connection and command errors") should say so.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { freePort, startRedis, stopRedis, uniquePrefix, until } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

let issuer: TestIssuer;
let upstream: TestUpstream;
let key: DpopKey;
let redis: ChildProcess;
let h: Harness;

beforeAll(async () => {
  issuer = await startIssuer({ pki: await testPki() });
  upstream = await startUpstream();
  key = await dpopKey();
  const port = await freePort();
  redis = await startRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  h = await startHarness({
    issuer,
    upstream,
    env: { TEST_REDIS_URL: url },
    patch: (c) => {
      c.replay = { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('review-hang'), command_timeout_ms: 250, connect_timeout_ms: 500 } };
    },
  });
}, 30_000);
afterAll(async () => {
  try { redis?.kill('SIGCONT'); } catch { /* gone */ }
  await h?.close();
  if (redis) await stopRedis(redis);
  await issuer?.close();
  await upstream?.close();
});

const dpopCall = async () => {
  const token = await issuer.mint({ cnf: cnfJkt(key.jkt) });
  const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
  return h.call('/dpop/x', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
};
const metric = async (name: string) => (await h.gw.metrics.registry.getSingleMetricAsString(name));

describe('replay store hang', () => {
  it('command timeouts count in fapi_gateway_replay_store_errors_total', async () => {
    expect(await until(async () => (await fetch(`${h.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
    expect((await dpopCall()).status).toBe(200);
    redis.kill('SIGSTOP');
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await dpopCall()).status);
    expect(statuses).toEqual([503, 503, 503, 503, 503]);
    expect(await until(async () => /reason="GW_REPLAY_STORE_UNAVAILABLE",status="503"\} 5/.test(await metric('fapi_gateway_requests_total')))).toBe(true);
    const errors = await metric('fapi_gateway_replay_store_errors_total');
    expect(errors).toMatch(/fapi_gateway_replay_store_errors_total [1-9]/);
  }, 30_000);
});
