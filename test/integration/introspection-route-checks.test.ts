// Pins (from a review of introspection): behaviour nobody tested: a cached introspection answer is judged
// per route (audience), and one request's binding failure does not spoil the shared lookup of others.
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startFakeAs, type FakeAs } from '../support/fake-as.js';
import { AUDIENCE, startHarness, type Harness } from '../support/gateway.js';
import { testPki, type TestPki } from '../support/pki.js';

let pki: TestPki;
let as: FakeAs;
let h: Harness;
let delayMs = 0;

beforeAll(async () => {
  pki = await testPki();
  as = await startFakeAs({
    pki,
    handler: (_q, res) => {
      const now = Math.floor(Date.now() / 1000);
      const body = { active: true, iss: as.origin, aud: AUDIENCE, sub: 'u', client_id: 'tpp-1', scope: 'accounts', exp: now + 300, cnf: { 'x5t#S256': pki.client1.x5tS256 } };
      if (delayMs > 0) setTimeout(() => json(res, 200, body), delayMs);
      else json(res, 200, body);
    },
  });
  h = await startHarness({
    routes: [
      { id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['op'] } },
      { id: 'b', match: { methods: ['GET'], path_prefix: '/b' }, auth: { issuers: ['op'], audience: 'https://other-api.test' } },
    ],
    patch: (c) => {
      const dir = dirname(c.issuers.main.ca_file as string);
      c.issuers.op = {
        issuer: as.origin,
        ca_file: c.issuers.main.ca_file,
        token_format: 'opaque',
        introspection: { endpoint: `${as.origin}/introspect`, client_id: 'gw', auth: 'tls_client_auth', cert_file: join(dir, 'client1.crt'), key_file: join(dir, 'client1.key'), cache_max_s: 60 },
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

describe('INT-3 / TOK-5 / INT-6: route checks on a cached answer', () => {
  it('one opaque token, cached after route a (its audience): route b (another audience) -> 401, no second AS call', async () => {
    const token = `x-${Math.random()}`;
    const before = as.count('/introspect');
    expect((await h.call('/a/1', { cert: pki.client1, headers: [bearer(token)] })).status).toBe(200);
    const r = await h.call('/b/1', { cert: pki.client1, headers: [bearer(token)] });
    expect(r.status).toBe(401);
    expect(as.count('/introspect')).toBe(before + 1);
  });
  it('concurrent requests share one lookup; one with the wrong certificate fails alone', async () => {
    const token = `y-${Math.random()}`;
    delayMs = 200;
    try {
      const before = as.count('/introspect');
      const rs = await Promise.all([
        h.call('/a/1', { cert: pki.client2, headers: [bearer(token)] }),
        ...Array.from({ length: 5 }, () => h.call('/a/1', { cert: pki.client1, headers: [bearer(token)] })),
      ]);
      expect(rs.map((r) => r.status)).toEqual([401, 200, 200, 200, 200, 200]);
      expect(as.count('/introspect')).toBe(before + 1);
    } finally {
      delayMs = 0;
    }
  });
});
