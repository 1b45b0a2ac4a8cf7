// TOK-7 (RFC 9396) over real TLS: routes that require `authorization_details` entries, for JWT access
// tokens (mTLS and DPoP) and for introspected opaque tokens. A token whose entries do not meet the rule
// gets 403 insufficient_scope on the scheme used and is never forwarded; a token that does is forwarded
// with its entries in the identity header, whatever the client sent under that name.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { opaqueIssuer, startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { challenges, expectErrorContract } from '../support/contract.js';
import { testPki, writePki } from '../support/pki.js';
import { parseConfig } from '../../src/config/load.js';
import { oneRouteConfig } from '../support/config.js';

const PAYMENT = { type: 'payment_initiation', actions: ['initiate', 'status'], locations: ['https://api.test/payments'], instructedAmount: { currency: 'EUR', amount: '12.00' } };
const ACCOUNTS = { type: 'account_information', actions: ['read'], datatypes: ['balances', 'transactions'], accounts: ['DE02100100109307118603'] };
const RAR_HEADER = 'x-authenticated-authorization-details';

let h: Harness;
let as: IntrospectionAs;
let key: DpopKey;
beforeAll(async () => {
  key = await dpopKey();
  // The test PKI is one per process: the harness's ca_file trusts this AS's TLS certificate too.
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  as = await startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } });
  h = await startHarness({
    patch: (c) => {
      const upstream = { url: c.routes[0].upstream.url, timeout_ms: 2000 };
      const base = { issuers: ['main', 'opaque'], audience: 'https://api.test', binding: 'any' };
      c.routes.push(
        {
          id: 'pay',
          match: { methods: ['GET', 'POST'], path_prefix: '/pay' },
          auth: { ...base, authorization_details: { all_of: [{ type: 'payment_initiation', actions: ['initiate'], locations: ['https://api.test/payments', 'https://api.test/pay'] }] } },
          upstream,
        },
        {
          id: 'acct',
          match: { methods: ['GET'], path_prefix: '/acct' },
          auth: {
            ...base,
            scopes: { all_of: ['accounts'] },
            authorization_details: { any_of: [{ type: 'account_information', datatypes: ['transactions'] }, { type: 'account_overview' }] },
          },
          upstream,
        },
      );
      c.issuers.opaque = opaqueIssuer(as, files);
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const mtls = async (path: string, claims: Record<string, unknown>, iid = randomUUID(), extra: [string, string][] = []) =>
  h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), ...claims })}`], ['x-fapi-interaction-id', iid], ...extra] });
const decoded = (v: string | string[] | undefined): unknown => JSON.parse(Buffer.from(String(v), 'base64url').toString('utf8'));

describe('authorization_details route rules (TOK-7, RFC 9396)', () => {
  it('TOK-7 an entry with the type, the actions and one of the locations -> 200; Q-9 the entries reach the upstream, the client-sent header does not', async () => {
    const before = h.upstream.received.length;
    const details = [ACCOUNTS, PAYMENT];
    const r = await mtls('/pay/1', { authorization_details: details }, randomUUID(), [[RAR_HEADER, Buffer.from('[{"type":"payment_initiation"}]').toString('base64url')]]);
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    const got = h.upstream.received.at(-1)?.headers ?? {};
    expect(decoded(got[RAR_HEADER])).toEqual(details);
  });

  it('TOK-7 no authorization_details, another type, a missing action, no accepted location -> 403 insufficient_scope without scope=, logged, never forwarded', async () => {
    const before = h.upstream.received.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /token has none/],
      [{ authorization_details: [ACCOUNTS] }, /token has types \["account_information"\]/],
      [{ authorization_details: [{ ...PAYMENT, actions: ['status'] }] }, /payment_initiation actions initiate/],
      [{ authorization_details: [{ ...PAYMENT, locations: ['https://other.example/payments'] }] }, /location https:\/\/api.test\/payments\|https:\/\/api.test\/pay/],
      [{ authorization_details: [{ ...PAYMENT, locations: undefined }] }, /TOK-7/],
      // RFC 9396 §2.2 members are arrays of strings: a string that contains the action is not one.
      [{ authorization_details: [{ ...PAYMENT, actions: 'initiate' }] }, /TOK-7/],
      // Entries that are not objects: nothing is held. (Not an array at all: the token is refused, below.)
      [{ authorization_details: ['payment_initiation', null, 7] }, /token has types \["\(not an object\)","\(not an object\)","\(not an object\)"\]/],
      // The log names types, never other content: an object where the type should be is only named.
      [{ authorization_details: [{ type: { name: 'Jane Doe', iban: 'DE02100100109307118603' } }] }, /token has types \["\(type is object\)"\]\)$/],
    ];
    for (const [claims, detail] of cases) {
      const iid = randomUUID();
      const r = await mtls('/pay/1', claims, iid);
      expectErrorContract(r, 403, 'insufficient_scope');
      const c = challenges(r).find((x) => x.startsWith('Bearer ')) ?? '';
      expect(c).toContain('error="insufficient_scope"');
      expect(c).not.toContain('scope="');
      const line = await logFor(h, iid);
      expect(line).toMatchObject({ reason: 'GW_INSUFFICIENT_AUTHORIZATION_DETAILS', status: 403 });
      expect(String(line?.detail)).toMatch(detail);
    }
    // Not an array (one entry as an object): read as none it would reach the upstream as no restriction.
    const iid = randomUUID();
    const r = await mtls('/pay/1', { authorization_details: PAYMENT }, iid);
    expectErrorContract(r, 401, 'invalid_token');
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_TOKEN_INVALID', detail: expect.stringContaining('TOK-7 authorization_details is not an array') });
    expect(h.upstream.received.length).toBe(before);
  });

  it('TOK-7 any_of: one rule met is enough; none met -> 403; the scope rule is still checked first (TOK-6)', async () => {
    expect((await mtls('/acct/1', { authorization_details: [ACCOUNTS] })).status).toBe(200);
    expect((await mtls('/acct/1', { authorization_details: [{ type: 'account_overview' }] })).status).toBe(200);
    const iid = randomUUID();
    const none = await mtls('/acct/1', { authorization_details: [{ ...ACCOUNTS, datatypes: ['balances'] }] }, iid);
    expectErrorContract(none, 403, 'insufficient_scope');
    expect(String((await logFor(h, iid))?.detail)).toContain('one of account_information datatypes transactions | account_overview');
    const noScope = randomUUID();
    const r = await mtls('/acct/1', { scope: 'payments', authorization_details: [ACCOUNTS] }, noScope);
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(challenges(r).find((x) => x.startsWith('Bearer '))).toContain('scope="accounts"');
    expect(await logFor(h, noScope)).toMatchObject({ reason: 'GW_INSUFFICIENT_SCOPE' });
  });

  it('TOK-7 a DPoP token: the refusal is on the DPoP challenge (the scheme used)', async () => {
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt), authorization_details: [ACCOUNTS] });
    const call = async (t: string) =>
      h.call('/pay/1', { headers: [['Authorization', `DPoP ${t}`], ['DPoP', await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/pay/1`, token: t })]] });
    const r = await call(token);
    expectErrorContract(r, 403, 'insufficient_scope');
    expect(challenges(r).find((x) => x.startsWith('DPoP '))).toContain('error="insufficient_scope"');
    expect(challenges(r).find((x) => x.startsWith('Bearer '))).not.toContain('error=');
    const ok = await h.issuer.mint({ cnf: cnfJkt(key.jkt), authorization_details: [PAYMENT] });
    expect((await call(ok)).status).toBe(200);
  });

  it('TOK-7 introspected opaque tokens: authorization_details from the introspection answer', async () => {
    const before = h.upstream.received.length;
    const good = as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: [PAYMENT] });
    const r = await h.call('/pay/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${good}`]] });
    expect(r.status).toBe(200);
    expect(decoded(h.upstream.received.at(-1)?.headers[RAR_HEADER])).toEqual([PAYMENT]);
    const bad = as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: [ACCOUNTS] });
    expectErrorContract(await h.call('/pay/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${bad}`]] }), 403, 'insufficient_scope');
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('Q-9 a route without a rule forwards the entries too, and a token without any sends no header', async () => {
    await mtls('/accounts/1', { authorization_details: [ACCOUNTS] });
    expect(decoded(h.upstream.received.at(-1)?.headers[RAR_HEADER])).toEqual([ACCOUNTS]);
    const r = await mtls('/accounts/1', {}, randomUUID(), [[RAR_HEADER, 'W3sidHlwZSI6InBheW1lbnRfaW5pdGlhdGlvbiJ9XQ']]);
    expect(r.status).toBe(200);
    expect(h.upstream.received.at(-1)?.headers[RAR_HEADER]).toBeUndefined();
  });
});

describe('authorization_details config (TOK-7)', () => {
  const yaml = (details: string): string => oneRouteConfig({ auth: `authorization_details: ${details}` });
  it.each([
    ['{}', /set all_of, any_of or both/],
    ['{ all_of: [{ actions: [read] }] }', /type/],
    ['{ all_of: [{ type: x, action: [read] }] }', /action/],
    ['{ any_of: [{ type: x, locations: [] }] }', /locations/],
  ])('TOK-7 %s is refused at load with its path', (details, message) => {
    expect(() => parseConfig(yaml(details), 'rar.yaml', {})).toThrow(message);
  });
});
