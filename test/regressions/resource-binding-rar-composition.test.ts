// Found in review (fixed; the test failed before): the entry that grants the bound resource is not required to be
// an entry that meets the route's own `authorization_details` rules (TOK-7).
//
// TOK-7 asks "does SOME entry carry the actions / datatypes / locations this route needs?" and TOK-8 asks
// "does SOME entry of the type name this account?". They are answered independently, so a token whose
// entries grant different things on different accounts (RFC 9396 §2: one entry per set of actions and
// resources, e.g. account A: read_balances+read_transactions, account B: list_accounts only) is treated as
// the union: read_balances on B is forwarded although no entry grants it. Same with `locations`: an
// entry meant for another resource server (same type, same audience) grants its accounts here.
//
// Over real TLS, JWT (mTLS-bound) and introspected opaque tokens; no mocks of gateway code.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { opaqueIssuer, startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfX5t } from '../support/issuer.js';
import { testPki, writePki } from '../support/pki.js';

const A = 'DE02100100109307118603'; // the user granted balances and transactions
const B = 'DE89370400440532013000'; // the user granted only that it may be listed
const HERE = 'https://api.test/v1/accounts';
const ELSEWHERE = 'https://cards.api.test/v1/cards';

let h: Harness;
let as: IntrospectionAs;
beforeAll(async () => {
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  as = await startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } });
  h = await startHarness({
    routes: [
      {
        // /v1/accounts/{AccountId}/balances: needs an entry with read_balances (TOK-7), for the account
        // in the path (TOK-8).
        id: 'balances',
        match: { methods: ['GET'], path_prefix: '/v1/accounts' },
        auth: {
          issuers: ['main', 'opaque'],
          binding: 'mtls',
          authorization_details: { all_of: [{ type: 'account_information', actions: ['read_balances'], locations: [HERE] }] },
          resource_binding: { authorization_details: [{ type: 'account_information', field: 'accounts' }] },
        },
      },
    ],
    patch: (c) => {
      c.issuers.opaque = opaqueIssuer(as, files);
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

async function get(path: string, token: string): Promise<{ status: number; forwarded: boolean; reason: unknown }> {
  const iid = randomUUID();
  const before = h.upstream.received.length;
  const r = await h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
  const line = await logFor(h, iid);
  return { status: r.status, forwarded: h.upstream.received.length > before, reason: line?.reason };
}

const jwt = (details: unknown[]) => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: details });
const opaque = (details: unknown[]) => as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: details });

describe('F1 TOK-7 x TOK-8: the granting entry must be one that authorises this route', () => {
  // Two entries of the same type, as RFC 9396 §2 allows: different actions on different accounts.
  const perAccountActions = [
    { type: 'account_information', actions: ['list_accounts', 'read_balances'], locations: [HERE], accounts: [A] },
    { type: 'account_information', actions: ['list_accounts'], locations: [HERE], accounts: [B] },
  ];
  // Two entries of the same type for two resource servers of the same AS (same audience).
  const perLocation = [
    { type: 'account_information', actions: ['read_balances'], locations: [HERE], accounts: [A] },
    { type: 'account_information', actions: ['read_balances'], locations: [ELSEWHERE], accounts: [B] },
  ];

  it('control: account A (read_balances granted here) is forwarded', async () => {
    expect(await get(`/v1/accounts/${A}/balances`, await jwt(perAccountActions))).toMatchObject({ status: 200, forwarded: true });
  });

  it('JWT: balances of an account whose only entry grants list_accounts are refused, not forwarded', async () => {
    const r = await get(`/v1/accounts/${B}/balances`, await jwt(perAccountActions));
    // Before the fix: 200, forwarded. No entry grants read_balances on B.
    expect(r).toMatchObject({ status: 403, forwarded: false });
  });

  it('JWT: an account granted only by an entry for another resource server (locations) is refused, not forwarded', async () => {
    const r = await get(`/v1/accounts/${B}/balances`, await jwt(perLocation));
    // Before the fix: 200, forwarded. The entry naming B is for ELSEWHERE.
    expect(r).toMatchObject({ status: 403, forwarded: false });
  });

  it('introspected opaque token: the same union of entries', async () => {
    const r = await get(`/v1/accounts/${B}/balances`, opaque(perAccountActions));
    expect(r).toMatchObject({ status: 403, forwarded: false });
  });
});
