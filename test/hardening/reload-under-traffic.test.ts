// Config reloads under traffic (DPOP-21, TLS-9, HDR-16): a seeded random walk of reloads, each changing
// a few settings that must not cost the gateway its state (replay store size, DPoP windows, limits,
// JWKS cooldown, identity header names, client-certificate policy). After every reload: a fresh mTLS and
// a fresh DPoP request get 200, a proof used at any earlier step is refused (never accepted again, with
// whatever the windows are now), the new header limit and client-certificate policy are in force on a
// new connection, and nothing answers 5xx. Bounded: 40 reloads, a few seconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SEED = Number(process.env.RELOAD_WALK_SEED ?? 20261124);
const STEPS = 40;

/** Small deterministic PRNG (mulberry32): the seed is in the test name, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a step's config must enforce (the harness reloads from its base config plus the step's changes). */
interface Expected {
  clientCertificate: 'optional' | 'required';
  maxHeaderBytes: number;
}
const BASE: Expected = { clientCertificate: 'optional', maxHeaderBytes: 16384 };

const CHANGES: readonly ((c: Raw, r: () => number, e: Expected) => string)[] = [
  (c, r) => {
    const n = 1000 + Math.floor(r() * 50_000);
    c.replay = { store: 'memory', memory_max_entries: n };
    return `replay.memory_max_entries=${n}`;
  },
  (c, r) => {
    const n = 60 + Math.floor(r() * 241);
    c.dpop = { ...c.dpop, iat_past_s: n };
    return `dpop.iat_past_s=${n}`;
  },
  (c, r) => {
    const n = Math.floor(r() * 61);
    c.dpop = { ...c.dpop, iat_future_s: n };
    return `dpop.iat_future_s=${n}`;
  },
  (c, r, e) => {
    const n = 8192 + Math.floor(r() * 24_576);
    c.server.limits = { ...c.server.limits, max_header_bytes: n };
    e.maxHeaderBytes = n;
    return `limits.max_header_bytes=${n}`;
  },
  (c, r) => {
    const n = 1000 + Math.floor(r() * 9000);
    c.server.limits = { ...c.server.limits, keep_alive_timeout_ms: n };
    return `limits.keep_alive_timeout_ms=${n}`;
  },
  (c, r) => {
    const n = 1 + Math.floor(r() * 60);
    c.issuers.main.jwks_refetch_cooldown_s = n;
    return `jwks_refetch_cooldown_s=${n}`;
  },
  (c) => {
    c.identity_headers = { ...c.identity_headers, subject: 'x-authenticated-user' };
    return 'identity_headers.subject';
  },
  (c, r, e) => {
    const v = r() < 0.5 ? 'required' : 'optional';
    c.server.tls.client_certificate = v;
    e.clientCertificate = v;
    return `tls.client_certificate=${v}`;
  },
];

let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

describe('config reloads under traffic', () => {
  it(`a random walk of ${STEPS} reloads (seed ${SEED}): fresh requests 200, no earlier proof accepted again, the new header limit and certificate policy in force, no 5xx`, async () => {
    const r = prng(SEED);
    const mtlsToken = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const dpopToken = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
    const used: string[] = [];
    const problems: string[] = [];
    const dpopCall = (p: string) =>
      h.call('/dpop/walk', { cert: h.pki.client1, headers: [['Authorization', `DPoP ${dpopToken}`], ['DPoP', p]] });
    for (let step = 0; step < STEPS; step++) {
      const picks = Array.from({ length: 1 + Math.floor(r() * 3) }, () => CHANGES[Math.floor(r() * CHANGES.length)]!);
      let described: string[] = [];
      const expected: Expected = { ...BASE };
      h.reload((c) => {
        described = picks.map((change) => change(c, r, expected));
      });
      const at = `step ${step} (${described.join(', ')})`;
      // The policies in force on a new connection.
      const bare = await h.call('/mtls/walk', { headers: [['Authorization', `Bearer ${mtlsToken}`]] }).then(
        (x) => x.status,
        () => 'refused',
      );
      const wantBare = expected.clientCertificate === 'required' ? 'refused' : 401;
      if (bare !== wantBare) problems.push(`${at}: no client certificate -> ${bare}, expected ${wantBare}`);
      const big = await h.call('/mtls/walk', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${mtlsToken}`], ['X-Pad', 'a'.repeat(expected.maxHeaderBytes)]] });
      if (big.status !== 431) problems.push(`${at}: a head over max_header_bytes -> ${big.status}, expected 431`);
      const m = await h.call('/mtls/walk', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${mtlsToken}`]] });
      if (m.status !== 200) problems.push(`${at}: mTLS ${m.status}`);
      const fresh = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/walk`, token: dpopToken });
      const d = await dpopCall(fresh);
      if (d.status !== 200) problems.push(`${at}: DPoP ${d.status}`);
      else used.push(fresh);
      if (used.length > 1) {
        const old = used[Math.floor(r() * (used.length - 1))]!;
        const again = await dpopCall(old);
        if (again.status !== 401) problems.push(`${at}: replayed proof answered ${again.status}`);
      }
    }
    expect(problems).toEqual([]);
    expect(used.length).toBe(STEPS);
  }, 60_000);
});
