// Found in review (fixed; the tests that failed before say what the bug was): DPoP server nonces, scopes, RFC 9396 authorization_details and its identity header,
// RFC 9470 step-up, over the real gateway and real TLS. Each test of a fixed defect says where it was.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { challenges, expectErrorContract } from '../support/contract.js';

const NONCE_SECRET = 'n'.repeat(48);
const RAR_HEADER = 'x-authenticated-authorization-details';
let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      const upstream = { url: c.routes[0].upstream.url, timeout_ms: 2000 };
      const base = { issuers: ['main'], audience: 'https://api.test' };
      c.dpop = { ...c.dpop, nonce: { secret_env: 'NONCE_SECRET' } };
      c.server.limits = { ...(c.server.limits ?? {}), max_authorization_details_bytes: 256 };
      c.routes.push(
        { id: 'sc', match: { methods: ['GET'], path_prefix: '/sc' }, auth: { ...base, binding: 'any', scopes: { all_of: ['accounts'], any_of: ['read', 'write'] } }, upstream },
        { id: 'su', match: { methods: ['GET'], path_prefix: '/su' }, auth: { ...base, binding: 'any', step_up: { acr_values: ['urn:high', 'urn:sca'], max_age_s: 300 } }, upstream },
      );
    },
    env: { NONCE_SECRET },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

const htu = (p: string): string => `${PUBLIC_ORIGIN}${p}`;
const now = (): number => Math.floor(Date.now() / 1000);
const mtls = async (path: string, claims: Record<string, unknown>, iid = randomUUID()) =>
  h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims })}`], ['x-fapi-interaction-id', iid]] });

describe('DPOP-21 / README "only fully valid proofs consume a key"', () => {
  // DPOP-21, requirements §2 step 8 (the replay claim runs last, "once everything else has passed"), README
  // "How a request flows" 9. Bug: the authorization_details size refusal (431 GW_AUTHORIZATION_DETAILS_TOO_LARGE)
  // is made in prepareUpstreamHeaders (src/forward/headers.ts:143-145), which src/gateway.ts:480 calls only
  // after the jti was claimed (src/gateway.ts:473-476): a refused request burns its proof, and the client
  // resending it is told 401 "already used" instead of the real reason.
  it('a proof refused with 431 (authorization_details too large) is not consumed: the same request gets 431 again, not 401 replay', async () => {
    const details = [{ type: 'account_information', accounts: Array.from({ length: 40 }, (_, i) => `DE0210010010930711860${i}`) }];
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt), authorization_details: details });
    const p = await proof(key, { htm: 'GET', htu: htu('/dpop/1'), token });
    const before = h.upstream.received.length;
    const first = await h.call('/dpop/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expectErrorContract(first, 431, 'invalid_request');
    const second = await h.call('/dpop/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p]] });
    expect(h.upstream.received.length).toBe(before);
    expect(second.status, `second answer: ${second.status} ${second.body}`).toBe(431);
  });
});

describe('Q-9 / README identity headers: authorization_details "never cut or left out"', () => {
  // README "What the upstream receives" (x-authenticated-authorization-details: "Never cut or left out: ... an
  // upstream could read a partial or absent list as no restriction"), Q-9, TOK-7. Bug: a token whose
  // authorization_details is present but not an array (a single RFC 9396 entry as an object) is accepted and
  // forwarded with NO header at all: detailsOf() treats it as absent (src/token/jwt-validator.ts:133; the
  // introspection path shares it, src/token/introspection.ts:237). The same token's non-string `scope` is
  // refused (JWT-14), and a wrongly typed introspection member is a 503 (INT-3): this one alone is dropped.
  it('a token whose authorization_details is an object is refused (or forwarded with it), never forwarded without it', async () => {
    const before = h.upstream.received.length;
    const r = await mtls('/accounts/1', { scope: 'accounts', authorization_details: { type: 'account_information', accounts: ['DE02100100109307118603'] } });
    const forwarded = h.upstream.received.length > before;
    const header = forwarded ? h.upstream.received.at(-1)?.headers[RAR_HEADER] : undefined;
    expect({ status: r.status, forwardedWithoutHeader: forwarded && header === undefined }).toEqual({ status: 401, forwardedWithoutHeader: false });
  });
});

describe('TOK-6 scope matching (pins)', () => {
  it('space-delimited, case-sensitive, exact tokens: a prefix, another case, a tab or a comma never satisfy; the challenge names the rule', async () => {
    for (const scope of ['accounts read', 'read  accounts', 'write accounts extra']) expect((await mtls('/sc/1', { scope })).status, scope).toBe(200);
    for (const scope of ['accounts', 'Accounts read', 'accounts\tread', 'accounts,read', 'account read', 'accountsread', 'accounts reader', '']) {
      const r = await mtls('/sc/1', { scope });
      expectErrorContract(r, 403, 'insufficient_scope');
      expect(challenges(r)[0], scope).toMatch(/^Bearer realm="api\.test", error="insufficient_scope", error_description="[^"]*", scope="accounts( read write)?"$/);
    }
    // RFC 9068 §2.2.3: scope is a string; an array is an invalid token, not an empty scope.
    expectErrorContract(await mtls('/sc/1', { scope: ['accounts', 'read'] }), 401, 'invalid_token');
  });
});

describe('STEP-2 / STEP-3 step-up edges (pins)', () => {
  it('auth_time in the future, as a string, or acr of another case or type -> 401 with acr_values and max_age on the scheme used, never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const claims of [
      { acr: 'urn:high', auth_time: now() + 3600 },
      { acr: 'urn:high', auth_time: String(now()) },
      { acr: 'URN:HIGH', auth_time: now() },
      { acr: ['urn:high'], auth_time: now() },
    ]) {
      const r = await mtls('/su/1', claims);
      expectErrorContract(r, 401, 'insufficient_user_authentication');
      expect(challenges(r)[0], JSON.stringify(claims)).toMatch(/^Bearer realm="api\.test", error="insufficient_user_authentication", error_description="[^"]*", acr_values="urn:high urn:sca", max_age="300"$/);
    }
    expect(h.upstream.received.length).toBe(before);
    expect((await mtls('/su/1', { acr: 'urn:sca', auth_time: now() - 10 })).status).toBe(200);
  });
});
