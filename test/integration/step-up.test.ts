// STEP-1..STEP-5 (RFC 9470) over real TLS: a route that requires acr and a recent auth_time, with mTLS-
// and DPoP-bound tokens. Refusals carry the requirement on the challenge of the scheme used and are
// never forwarded.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { challenges, expectErrorContract } from '../support/contract.js';

let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.routes.push({
        id: 'sca',
        match: { methods: ['GET'], path_prefix: '/sca' },
        auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any', step_up: { acr_values: ['urn:bank:sca', 'urn:bank:high'], max_age_s: 300 } },
        upstream: { url: c.routes[0].upstream.url },
      });
    },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

const now = (): number => Math.floor(Date.now() / 1000);
const mtlsCall = async (claims: Record<string, unknown>, iid = randomUUID()) =>
  h.call('/sca/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims })}`], ['x-fapi-interaction-id', iid]] });

describe('step-up (STEP-1..STEP-5)', () => {
  it('STEP-1 an accepted acr and a recent auth_time -> 200, forwarded', async () => {
    const before = h.upstream.received.length;
    const r = await mtlsCall({ acr: 'urn:bank:high', auth_time: now() - 60 });
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('HDR-10 / JWT-14 the upstream is told acr, auth_time and amr as the token has them, never what the client sent', async () => {
    const t = now() - 60;
    const r = await mtlsCall({ acr: 'urn:bank:high', auth_time: t, amr: ['pwd', 'otp'] });
    expect(r.status).toBe(200);
    const got = h.upstream.received.at(-1)?.headers ?? {};
    expect([got['x-authenticated-acr'], got['x-authenticated-auth-time'], got['x-authenticated-amr']]).toEqual(['urn:bank:high', String(t), 'pwd otp']);
    // A token without them (client credentials on a route without step-up): none sent, spoofed ones stripped.
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'client-1', client_id: 'client-1' });
    const spoofed: [string, string][] = [['x-authenticated-acr', 'urn:bank:high'], ['x-authenticated-auth-time', String(now())], ['x-authenticated-amr', 'hwk']];
    expect((await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ...spoofed] })).status).toBe(200);
    const plain = h.upstream.received.at(-1)?.headers ?? {};
    expect([plain['x-authenticated-acr'], plain['x-authenticated-auth-time'], plain['x-authenticated-amr']]).toEqual([undefined, undefined, undefined]);
  });

  it('STEP-2 / STEP-3 acr missing or not accepted -> 401 insufficient_user_authentication, acr_values and max_age on the Bearer challenge', async () => {
    const before = h.upstream.received.length;
    for (const claims of [{ auth_time: now() }, { acr: 'urn:bank:low', auth_time: now() }]) {
      const iid = randomUUID();
      const r = await mtlsCall(claims, iid);
      expectErrorContract(r, 401, 'insufficient_user_authentication');
      const c = challenges(r).find((x) => x.startsWith('Bearer ')) ?? '';
      expect(c).toContain('error="insufficient_user_authentication"');
      expect(c).toContain('acr_values="urn:bank:sca urn:bank:high"');
      expect(c).toContain('max_age="300"');
      expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_STEP_UP_REQUIRED', status: 401 });
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('STEP-2 auth_time older than max_age (or absent) -> 401; the log says how old', async () => {
    const iid = randomUUID();
    const r = await mtlsCall({ acr: 'urn:bank:sca', auth_time: now() - 3600 }, iid);
    expectErrorContract(r, 401, 'insufficient_user_authentication');
    expect((await logFor(h, iid))?.detail).toMatch(/^STEP-2 auth_time 36\d\d s ago$/);
    expect((await mtlsCall({ acr: 'urn:bank:sca' })).status).toBe(401);
  });

  it('STEP-3 for a DPoP token the same parameters go on the DPoP challenge', async () => {
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt), acr: 'urn:bank:low', auth_time: now() });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/sca/1`, token });
    const r = await h.call('/sca/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expectErrorContract(r, 401, 'insufficient_user_authentication');
    const c = challenges(r).find((x) => x.startsWith('DPoP ')) ?? '';
    expect(c).toContain('error="insufficient_user_authentication"');
    expect(c).toContain('acr_values="urn:bank:sca urn:bank:high"');
    expect(challenges(r).find((x) => x.startsWith('Bearer '))).not.toContain('error=');
  });

  it('STEP-4 / PRM-5 with resource metadata published, the step-up challenge carries max_age and resource_metadata together, each once', async () => {
    const m = await startHarness({
      issuer: h.issuer,
      upstream: h.upstream,
      patch: (c) => {
        c.resource_metadata = {};
        c.routes.push({
          id: 'sca',
          match: { methods: ['GET'], path_prefix: '/sca' },
          auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any', step_up: { acr_values: ['urn:bank:sca'], max_age_s: 300 } },
          upstream: { url: c.routes[0].upstream.url },
        });
      },
    });
    try {
      const before = h.upstream.received.length;
      const prm = 'resource_metadata="https://api.test/.well-known/oauth-protected-resource"';
      const once = (c: string, param: string): void => expect(c.split(param).length - 1, `${param} in ${c}`).toBe(1);
      // mTLS: auth_time too old -> the Bearer challenge.
      const old = await m.issuer.mint({ cnf: cnfX5t(m.pki.client1.x5tS256), acr: 'urn:bank:sca', auth_time: now() - 3600 });
      const r = await m.call('/sca/1', { cert: m.pki.client1, headers: [['Authorization', `Bearer ${old}`]] });
      expectErrorContract(r, 401, 'insufficient_user_authentication');
      const bearer = challenges(r).find((x) => x.startsWith('Bearer ')) ?? '';
      for (const p of ['error="insufficient_user_authentication"', 'max_age="300"', prm]) once(bearer, p);
      // DPoP: the same on the DPoP challenge.
      const token = await m.issuer.mint({ cnf: cnfJkt(key.jkt), acr: 'urn:bank:sca', auth_time: now() - 3600 });
      const d = await m.call('/sca/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/sca/1`, token })]] });
      expectErrorContract(d, 401, 'insufficient_user_authentication');
      const dpop = challenges(d).find((x) => x.startsWith('DPoP ')) ?? '';
      for (const p of ['error="insufficient_user_authentication"', 'max_age="300"', prm]) once(dpop, p);
      expect(h.upstream.received.length).toBe(before);
    } finally {
      await m.close();
    }
  });

  it('STEP-5 a client-credentials token (sub = client_id) -> 403 insufficient_scope, not forwarded', async () => {
    const before = h.upstream.received.length;
    const r = await mtlsCall({ sub: 'client-1', client_id: 'client-1', acr: 'urn:bank:sca', auth_time: now() });
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(h.upstream.received.length).toBe(before);
  });

  it('routes without a rule are unchanged: a token without acr or auth_time is accepted', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    expect(r.status).toBe(200);
  });
});
