// Regression (failed before the fix), review of 3a0a25e (HDR-10 / JWT-14: x-authenticated-acr, -auth-time, -amr). README: auth_time is sent
// as "seconds since the epoch", amr "space-separated", each only when the token carries it.
import { randomUUID } from 'node:crypto';
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const call = (token: string) => h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', randomUUID()]] });

describe('review HDR-10 / JWT-14 identity headers', () => {
  it('JWT-14 auth_time of 1e400 (Infinity once parsed, like exp/iat/nbf in JWT-8) never reaches the upstream as "Infinity"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { iss: h.issuer.issuer, aud: AUDIENCE, sub: 'user-1', client_id: 'client-1', scope: 'accounts', jti: randomUUID(), iat: now, exp: now + 300, cnf: cnfX5t(h.pki.client1.x5tS256) };
    // JSON.stringify cannot write 1e400: the payload is written by hand and signed with the issuer's key.
    const payload = `${JSON.stringify(base).slice(0, -1)},"auth_time":1e400}`;
    const k = h.issuer.current;
    const token = await new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt' }).sign(k.privateKey);
    const before = h.upstream.received.length;
    const r = await call(token);
    // Either refused (as introspection does: "INT-3 auth_time is not a number") or the claim ignored.
    if (r.status === 200) {
      expect(h.upstream.received.length).toBe(before + 1);
      const v = h.upstream.received.at(-1)?.headers['x-authenticated-auth-time'];
      expect(v === undefined || /^\d+$/.test(String(v)), `x-authenticated-auth-time: ${String(v)}`).toBe(true);
    } else expect(r.status).toBe(401);
  });

  it('JWT-14 an amr element holding a space cannot read upstream as two methods (["pwd mfa"] is not ["pwd", "mfa"])', async () => {
    await call(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), amr: ['pwd', 'mfa'] }));
    const two = h.upstream.received.at(-1)?.headers['x-authenticated-amr'];
    const before = h.upstream.received.length;
    const r = await call(await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), amr: ['pwd mfa'] }));
    const one = h.upstream.received.length > before ? h.upstream.received.at(-1)?.headers['x-authenticated-amr'] : undefined;
    expect(two).toBe('pwd mfa');
    expect(r.status === 200 ? one : undefined, 'a one-element amr must not be sent as the two-element one').not.toBe(two);
  });
});
