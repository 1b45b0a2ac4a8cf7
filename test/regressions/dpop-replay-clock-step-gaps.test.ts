// Found in review (fixed; the test failed before): review of f7e2f1c (DPOP-21 across wall-clock steps, src/replay/store.ts checkRemembered). As in
// test/regressions/dpop-replay-clock-step.test.ts, the gateway's binding and replay stages are made
// exactly as src/gateway.ts makes them:
//   verifier.verifyNow(input)            (DPOP-11 iat window, on the wall clock)
//   checkRemembered(store, r.iatS)       (DPOP-21 floors: the store's memory, and a step back)
//   store.claimNow?.(key, ttl) ?? store.claim(key, ttl)
// with the wall and monotonic clocks injected, so a step can be simulated; Redis is the real shared one
// (its keys deleted instead of waiting out their TTL, which counts real time).
//
// What these pin (each failed on the code as reviewed):
// 1. The step-back tolerance is iat_future_s + 10 s, but a replay record outlives the iat window of a
//    proof only by REPLAY_TTL_MARGIN_MS (10 s) when the proof's iat was iat_future_s ahead (a client
//    clock running fast, which DPOP-11 allows): a step back of 10..iat_future_s+10 s lets such a proof
//    through again once its record expired.
// 2. The step is remembered per store object, from the first DPoP check on it: a store built by a reload
//    (same Redis: a renewed replay.redis.ca_file, a rotated password, new timeouts) or a worker whose store
//    had not checked a proof before the step forgets it.
// 3. The step floor adds the store's futureAllowanceMs (iat_future_s when the store was built), not the
//    iat_future_s the refused proofs were accepted under: a reload that raises iat_future_s keeps the store.
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { calculateJwkThumbprint, CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DpopProofInput, DpopVerifier } from '../../src/binding/dpop-proof.js';
import { expectedHtu } from '../../src/binding/htu.js';
import type { ReplayClock, ReplayStore } from '../../src/replay/store.js';
import { SHARED_REDIS_URL, uniquePrefix, until, withRedis } from '../support/redis.js';

/**
 * The gateway's modules, loaded afresh for each test: what a fix remembers about the clocks (per store,
 * per process) must not carry one test's simulated step into the next, as it would in one process.
 */
async function gatewayModules() {
  vi.resetModules();
  const [dpop, memory, redis, store] = await Promise.all([
    import('../../src/binding/dpop-proof.js'),
    import('../../src/replay/memory.js'),
    import('../../src/replay/redis.js'),
    import('../../src/replay/store.js'),
  ]);
  return { DpopVerifier: dpop.DpopVerifier, MemoryReplayStore: memory.MemoryReplayStore, RedisReplayStore: redis.RedisReplayStore, checkRemembered: store.checkRemembered, ReplayClock: store.ReplayClock };
}
type Modules = Awaited<ReturnType<typeof gatewayModules>>;

const AT = 'access-token-for-review-diff2';
const HTU_RAW = 'https://api.test/dpop/x';
const HTU = expectedHtu('https://api.test', '/dpop/x');
const ath = createHash('sha256').update(AT).digest('base64url');

let privateKey: webcrypto.CryptoKey;
let jwk: JWK;
let jkt: string;

beforeAll(async () => {
  const kp = await generateKeyPair('ES256', { extractable: true });
  privateKey = kp.privateKey as webcrypto.CryptoKey;
  jwk = await exportJWK(kp.publicKey);
  jkt = await calculateJwkThumbprint(jwk);
});

async function proofAt(iatS: number): Promise<string> {
  const claims = { jti: randomUUID(), htm: 'GET', htu: HTU_RAW, iat: iatS, ath };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(privateKey);
}

const input = (p: string): DpopProofInput => ({ proofs: [p], method: 'GET', htu: HTU, accessToken: AT, expectedJkt: jkt, nonceRequired: false });

/** A replay refused as such, or as predating what the store remembers. */
const REFUSED = /^GW_DPOP_(REPLAY|PROOF_PREDATES_STORE)$/;

/** The gateway's binding + replay stages for one proof: 'forwarded', or the refusal code. */
async function present(m: Modules, v: DpopVerifier, store: ReplayStore, p: string, nowMs: number, steps: ReplayClock): Promise<string> {
  try {
    const r = v.verifyNow(input(p), nowMs);
    m.checkRemembered(store, r.iatS, steps);
    const first = store.claimNow?.(r.replayKey, r.ttlMs) ?? (await store.claim(r.replayKey, r.ttlMs));
    return first ? 'forwarded' : 'GW_DPOP_REPLAY';
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('GW_')) return code;
    throw e;
  }
}

/** The gateway's clocks: the wall clock steps (offsetMs), the monotonic one only runs (elapsedMs simulates real time passing). */
function clocks() {
  const c = {
    offsetMs: 0,
    elapsedMs: 0,
    wall: (): number => Date.now() + c.offsetMs,
    mono: (): number => performance.now() + c.elapsedMs,
    /** Real time passes (the Redis records' TTL counts it): both clocks move. */
    pass(ms: number): void {
      c.offsetMs += ms;
      c.elapsedMs += ms;
    },
  };
  return c;
}

describe('review diff2: DPOP-21 replay across a wall-clock step (checkRemembered)', () => {
  const prefixes: string[] = [];
  const stores: ReplayStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close();
    await withRedis(SHARED_REDIS_URL, async (r) => {
      for (const prefix of prefixes) {
        const keys = await r.keys(`${prefix}*`);
        if (keys.length > 0) await r.del(...keys);
      }
    }).catch(() => undefined);
  });

  const redisStore = async (m: Modules, prefix: string, futureAllowanceMs: number, floorMs = 0): Promise<ReplayStore> => {
    const s = new m.RedisReplayStore({ mode: 'standalone', url: SHARED_REDIS_URL, epochKey: `${prefix}epoch`, readinessKey: `${prefix}readiness`, futureAllowanceMs, floorMs });
    stores.push(s);
    expect(await until(() => s.ping(), 5000, 50)).toBe(true);
    return s;
  };
  /** Redis forgets this run's claims as their TTL runs out (deleted instead of waited for). */
  const expireClaims = (prefix: string): Promise<void> =>
    withRedis(SHARED_REDIS_URL, async (r) => {
      const keys = await r.keys(`${prefix}dpop:*`);
      expect(keys.length).toBeGreaterThan(0);
      await r.del(...keys);
    });
  const nextSecond = (): Promise<void> => sleep(1000 - (Date.now() % 1000) + 5);
  const verifier = (m: Modules, iatFutureS: number, keyPrefix: string): DpopVerifier => new m.DpopVerifier({ algorithms: ['ES256'], iatPastS: 60, iatFutureS, keyPrefix });

  it('DPOP-21: a step back of 15 s (under iat_future_s + 10 s) lets a proof whose iat was 10 s ahead through again once Redis forgot it', async () => {
    const m = await gatewayModules();
    const prefix = uniquePrefix('review-diff2-tolerance');
    prefixes.push(prefix);
    // Defaults but iat_past_s at its minimum (60; 300 behaves the same): records live (60 + 10) s + 10 s.
    const store = await redisStore(m, prefix, 10_000);
    const v = verifier(m, 10, `${prefix}dpop:`);
    await nextSecond();
    const t = clocks();
    const steps = new m.ReplayClock(10_000, t.wall, t.mono); // the process's, from its start
    // The client's clock runs 10 s fast (inside iat_future_s): its proof's iat is 10 s ahead of the gateway's.
    const used = await proofAt(Math.floor(t.wall() / 1000) + 10);
    expect(await present(m, v, store, used, t.wall(), steps)).toBe('forwarded');
    expect(await present(m, v, store, used, t.wall(), steps)).toBe('GW_DPOP_REPLAY');

    t.offsetMs -= 15_000; // NTP steps the gateway's clock back 15 s (iat_future_s + 10 s is 20 s)
    t.pass(81_000); // the record's 80 s run out
    await expireClaims(prefix);
    // Gateway time is 66 s after the first use: the proof's iat (10 s after it) is inside the 60 s window.
    expect(await present(m, v, store, used, t.wall(), steps)).toMatch(REFUSED); // was: 'forwarded'
  });

  it('DPOP-21: memory store, clock 81 s ahead (traffic sweeps the record) then 15 s back: a proof whose iat was 10 s ahead is not accepted again', async () => {
    const m = await gatewayModules();
    const t = clocks();
    const steps = new m.ReplayClock(10_000, t.wall, t.mono); // the process's, from its start
    const store = new m.MemoryReplayStore({ now: () => t.wall(), futureAllowanceMs: 10_000 });
    const v = verifier(m, 10, 'fapi:dpop:');
    await nextSecond();
    const used = await proofAt(Math.floor(t.wall() / 1000) + 10);
    expect(await present(m, v, store, used, t.wall(), steps)).toBe('forwarded');
    // The wall clock jumps 81 s ahead; another client's request (fresh by the new clock) sweeps the
    // record, whose wall-clock expiry (80 s) has "passed".
    t.offsetMs += 81_000;
    t.pass(1_000);
    expect(await present(m, v, store, await proofAt(Math.floor(t.wall() / 1000)), t.wall(), steps)).toBe('forwarded');
    // NTP steps it back 15 s: the used proof (iat 10 s after its first use) is inside the 60 s window again.
    t.offsetMs -= 15_000;
    expect(await present(m, v, store, used, t.wall(), steps)).toMatch(REFUSED); // was: 'forwarded'
  });

  it('DPOP-21: a reload that rebuilds the store on the same Redis (renewed ca_file, new password or timeouts) does not forget a step back noticed before', async () => {
    const m = await gatewayModules();
    const prefix = uniquePrefix('review-diff2-reload');
    prefixes.push(prefix);
    const before = await redisStore(m, prefix, 0);
    const v = verifier(m, 0, `${prefix}dpop:`);
    await nextSecond();
    const t = clocks();
    const steps = new m.ReplayClock(0, t.wall, t.mono); // the process's, from its start
    const used = await proofAt(Math.floor(t.wall() / 1000));
    expect(await present(m, v, before, used, t.wall(), steps)).toBe('forwarded');

    t.offsetMs -= 30_000; // NTP steps the clock back 30 s
    // Noticed: a proof from the stepped-back clock is refused (until it passes the time it stepped back from).
    expect(await present(m, v, before, await proofAt(Math.floor(t.wall() / 1000)), t.wall(), steps)).toBe('GW_DPOP_PROOF_PREDATES_STORE');

    // The reload: main.ts builds a new store for the same Redis and prefix (floorMs 0: its epoch stands).
    const after = await redisStore(m, prefix, 0, 0);
    t.pass(71_000); // the record's 70 s run out
    await expireClaims(prefix);
    // Gateway time is 41 s after the first use: inside the 60 s window.
    expect(await present(m, v, after, used, t.wall(), steps)).toMatch(REFUSED); // was: 'forwarded'
  });

  it('DPOP-21: a store that had checked no proof before the step (a cluster worker sharing the Redis) does not accept a proof another one used before it', async () => {
    const m = await gatewayModules();
    const prefix = uniquePrefix('review-diff2-worker');
    prefixes.push(prefix);
    // Two workers' stores, both started before the step; only the first saw DPoP traffic before it. (In a
    // cluster each is in its own process; both started before the step.)
    const worker1 = await redisStore(m, prefix, 0);
    const worker2 = await redisStore(m, prefix, 0);
    const v = verifier(m, 0, `${prefix}dpop:`);
    await nextSecond();
    const t = clocks();
    const steps = new m.ReplayClock(0, t.wall, t.mono); // the process's, from its start
    const used = await proofAt(Math.floor(t.wall() / 1000));
    const steps2 = new m.ReplayClock(0, t.wall, t.mono); // worker 2's process, started before the step too
    expect(await present(m, v, worker1, used, t.wall(), steps)).toBe('forwarded');

    t.offsetMs -= 30_000; // the host's clock steps back 30 s (every worker's)
    t.pass(71_000);
    await expireClaims(prefix);
    expect(await present(m, v, worker1, used, t.wall(), steps)).toMatch(REFUSED); // control: the worker that saw it
    expect(await present(m, v, worker2, used, t.wall(), steps2)).toMatch(REFUSED); // was: 'forwarded'
  });

  it('DPOP-21: after a reload raised iat_future_s (the store is kept), a step back does not let a proof accepted with the new allowance through again', async () => {
    const m = await gatewayModules();
    const prefix = uniquePrefix('review-diff2-future');
    prefixes.push(prefix);
    // Built under iat_future_s 0; a reload then raised it to 60 (replayConfig ignores the dpop section: same store).
    const store = await redisStore(m, prefix, 0);
    const v = verifier(m, 60, `${prefix}dpop:`);
    await nextSecond();
    const t = clocks();
    const steps = new m.ReplayClock(0, t.wall, t.mono); // the process's, from its start
    steps.setFutureAllowance(60_000); // the reload that raised iat_future_s (main.ts, once it is accepted)
    // A client 60 s fast: accepted under the new iat_future_s; its record lives (60 + 60) s + 10 s.
    const used = await proofAt(Math.floor(t.wall() / 1000) + 60);
    expect(await present(m, v, store, used, t.wall(), steps)).toBe('forwarded');

    t.offsetMs -= 30_000; // NTP steps the clock back 30 s
    // Noticed (more than the store's iat_future_s 0 + 10 s): a proof from the stepped-back clock is refused.
    expect(await present(m, v, store, await proofAt(Math.floor(t.wall() / 1000)), t.wall(), steps)).toBe('GW_DPOP_PROOF_PREDATES_STORE');
    t.pass(131_000);
    await expireClaims(prefix);
    // Gateway time is 101 s after the first use: the proof's iat (60 s after it) is inside the window.
    expect(await present(m, v, store, used, t.wall(), steps)).toMatch(REFUSED); // was: 'forwarded'
  });
});
