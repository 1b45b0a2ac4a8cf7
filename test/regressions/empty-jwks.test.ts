// Found in review (fixed; the test failed before): outbound dependencies: an issuer JWKS that answers 200 `{"keys": []}` (an AS whose key store is
// not loaded yet, a CDN or proxy serving a placeholder) is taken as a successful fetch. A JWT issuer with
// no keys cannot have signed anything: that document is the JWKS failing, not the AS withdrawing every key.
// README (Readiness / "Authorization server down"), Q-13, E9: keys missing -> 503 + Retry-After and not
// ready, never 401 invalid_token for every valid token (which makes clients throw their tokens away).
// Cause: src/token/http-client.ts:115-121 (getJwksKeys refuses more than 100 keys, not none) and
// src/token/issuer-keys.ts:198-203 (an empty set becomes the keys, a new generation, `ready`).
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let issuer: TestIssuer;
let h: Harness;
let empty = true;
let fetches = 0;
const jwks = createServer({}, (_q, res) => {
  fetches++;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: empty ? [] : issuer.keys.map((k) => k.jwk) }));
});

beforeAll(async () => {
  const pki = await testPki();
  jwks.setSecureContext({ cert: pki.server.certPem, key: pki.server.keyPem });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  issuer = await startIssuer({ pki });
  h = await startHarness({
    issuer,
    patch: (c) => {
      c.issuers.main.jwks_uri = `https://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
      c.issuers.main.jwks_refetch_cooldown_s = 30;
    },
  });
  for (let i = 0; i < 400 && !h.logLines().some((l) => /jwks fetch/.test(String(l.msg))); i++) await sleep(5);
});
afterAll(async () => {
  await h?.close();
  await issuer?.close();
  jwks.closeAllConnections();
  await new Promise<void>((r) => jwks.close(() => r()));
});

describe('an issuer JWKS that answers an empty key set', () => {
  it('at start: not ready, a valid token gets 503 + Retry-After (not 401), the log says why; 200 once keys are published', async () => {
    expect(fetches).toBeGreaterThanOrEqual(1);
    const readyz = await fetch(`${h.adminUrl}/readyz`);
    const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    const failedLine = h.logLines().find((l) => l.msg === 'jwks fetch failed');
    // Fixed, the key set comes in within the first-fetch back-off (5 s), not after the 30 s cooldown.
    empty = false;
    let after = 0;
    for (let i = 0; i < 14 && after !== 200; i++) {
      await sleep(500);
      after = (await h.call('/mtls/2', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] })).status;
    }
    expect({
      readyz: readyz.status,
      status: r.status,
      retryAfter: r.headers['retry-after'] !== undefined,
      challenge: r.headers['www-authenticate'] ?? null,
      logged: failedLine !== undefined,
      afterKeysPublished: after,
    }).toEqual({ readyz: 503, status: 503, retryAfter: true, challenge: null, logged: true, afterKeysPublished: 200 });
    expect(h.upstream.received.map((q) => q.url)).toEqual(['/mtls/2']);
  }, 15_000);

  it('keys held, then one refresh answers an empty key set: valid tokens keep working on the held keys, not 401 for everyone', async () => {
    empty = false;
    h.reload((c) => (c.issuers.main.jwks_refetch_cooldown_s = 1));
    await sleep(1100);
    const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const call = (p: string, t = token) => h.call(p, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${t}`]] });
    expect((await call('/mtls/warm')).status).toBe(200);
    await sleep(1100);
    // Past the cooldown a token with an unknown kid makes the gateway refetch; the AS glitches just then.
    empty = true;
    const before = fetches;
    const stranger = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) }, { kid: 'not-published' });
    // That refetch failed (no keys is an outage): an unknown kid is then a 503, as during any outage.
    expect((await call('/mtls/stranger', stranger)).status).toBe(503);
    expect(fetches).toBe(before + 1);
    empty = false;
    const r = await call('/mtls/again');
    expect({ status: r.status, challenge: r.headers['www-authenticate'] ?? null }).toEqual({ status: 200, challenge: null });
  });
});
