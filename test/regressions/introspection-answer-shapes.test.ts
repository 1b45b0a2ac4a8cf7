// Found in review (fixed; the tests that failed before say what the bug was): introspection answers of odd shapes from a scriptable AS (fake-as), over real TLS.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, sleep, startFakeAs, type FakeAs } from '../support/fake-as.js';
import { expect503, startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
let other: FakeAs;
let answer: (token: string) => Record<string, unknown> | ((res: import('node:http').ServerResponse) => void);
const seenTokens: string[] = [];
beforeAll(async () => {
  w = await startOpaqueWorld({ cache_max_s: 60, negative_cache_s: 2 });
  other = await startFakeAs({ pki: w.pki });
  other.handler = (_q, res) => json(res, 200, w.active());
  w.as.handler = (_q, res, body) => {
    const token = new URLSearchParams(body.toString('utf8')).get('token') ?? '';
    seenTokens.push(token);
    const a = answer(token);
    if (typeof a === 'function') return a(res);
    json(res, 200, a);
  };
});
afterAll(async () => {
  await w?.close();
  await other?.close();
});
const fresh = (): string => `t-${Math.random().toString(36).slice(2)}`;

describe('INT-2 / INT-3: shapes that must be 503 (AS misbehaving), per README "Opaque tokens and revocation"', () => {
  // Seven 503s in a row open the issuer's breaker (INT-8): let it close before the next tests.
  afterAll(async () => {
    await sleep(2100);
  });
  it.each([
    ['active as number 1', { active: 1 }],
    ['iat as a string', { iat: '1700000000' }],
    ['exp as Infinity-like huge string', { exp: '1e999' }],
  ])('%s -> 503', async (_n, extra) => {
    answer = () => w.active(extra);
    expect503(await w.call(fresh()));
  });

  // README "Opaque tokens and revocation": "an active answer whose members have the wrong JSON types
  // (`exp` as a string, `scope` as an array) ... is a 503 with Retry-After". A `cnf` of the wrong JSON
  // type (a string, or x5t#S256 as a number) is read as a verdict on the token instead: 401
  // GW_TOKEN_CNF_INVALID, cached for negative_cache_s, not counted as an AS failure.
  // Cause: src/token/introspection.ts:182-195 (checkMemberTypes does not type-check cnf) and :219
  // (parseConfirmation's GatewayError becomes a cached refusal at :353-357).
  it.each([
    ['cnf as a string', { cnf: 'x5t' }],
    ['cnf x5t#S256 as a number', { cnf: { 'x5t#S256': 12345 } }],
    ['cnf as an array', { cnf: [] }],
  ])('%s -> 503 (wrong JSON type), not 401', async (_n, extra) => {
    answer = () => w.active(extra);
    const r = await w.call(fresh());
    expect(r.status).toBe(503);
  });
});

describe('INT-3 / Q-9: authorization_details of the wrong JSON type', () => {
  // README "Opaque tokens and revocation": an active answer whose members have the wrong JSON types is a
  // 503 (the AS misbehaving). README identity headers: x-authenticated-authorization-details is "absent
  // when the token has none ... Never cut or left out" (the upstream reads consented accounts from it).
  // An answer whose authorization_details is a single RFC 9396 object instead of an array is accepted
  // and forwarded WITHOUT the header: the upstream sees a token with no RAR restriction at all.
  // Cause: src/token/introspection.ts:182-195 (checkMemberTypes does not check authorization_details)
  // and src/token/jwt-validator.ts:133 (detailsOf: "anything else counts as none").
  it('authorization_details as an object -> 503, not forwarded without the header', async () => {
    answer = () => w.active({ authorization_details: { type: 'account_information', actions: ['read'], accounts: ['A-1'] } });
    const before = w.h.upstream.received.length;
    const r = await w.call(fresh());
    const forwarded = w.h.upstream.received.slice(before);
    expect({ status: r.status, forwarded: forwarded.length }).toEqual({ status: 503, forwarded: 0 });
  });
});

describe('INT-1 / TLS-11: transport-level answers', () => {
  // Each refusal here is an AS failure too: the breaker may open (INT-8). Each test waits it out first.
  beforeEach(async () => {
    await sleep(2100);
  });
  it('a 302 to another host is not followed (credentials never reach it) -> 503', async () => {
    const before = other.count('/introspect');
    answer = () => (res) => res.writeHead(302, { location: `${other.origin}/introspect` }).end();
    expect503(await w.call(fresh()));
    expect(other.count('/introspect')).toBe(before);
  });
  it('200 text/html -> 503', async () => {
    answer = () => (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
    expect503(await w.call(fresh()));
  });
  it('a 300 KB body -> 503', async () => {
    answer = () => (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...w.active(), pad: 'x'.repeat(300_000) }));
    expect503(await w.call(fresh()));
  });
  it('a token with characters that need form encoding reaches the AS unchanged', async () => {
    answer = () => w.active();
    const token = `a+b/c~e.f-g_h${Math.random().toString(36).slice(2)}==`;
    expect((await w.call(token)).status).toBe(200);
    expect(seenTokens.at(-1)).toBe(token);
  });
});

describe('INT-6: cache lifetimes', () => {
  it('an active answer is never served past exp (exp = now + 2, cache_max_s 60): the AS is asked again', async () => {
    const token = fresh();
    let calls = 0;
    answer = () => {
      calls++;
      return calls === 1 ? w.active({ exp: Math.floor(Date.now() / 1000) + 2 }) : { active: false };
    };
    expect((await w.call(token)).status).toBe(200);
    expect((await w.call(token)).status).toBe(200);
    expect(calls).toBe(1);
    await sleep(3100);
    const r = await w.call(token);
    expect(r.status).toBe(401);
    expect(calls).toBe(2);
  });
  it('an inactive answer is cached at most negative_cache_s (2 s)', async () => {
    const token = fresh();
    let active = false;
    answer = () => (active ? w.active() : { active: false });
    expect((await w.call(token)).status).toBe(401);
    active = true;
    expect((await w.call(token)).status).toBe(401);
    await sleep(2100);
    expect((await w.call(token)).status).toBe(200);
  });
});
