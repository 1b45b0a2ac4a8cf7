// Regressions (review of 8506612, TOK-7 / Q-9): authorization_details carry members the client chose in
// its authorization request, and the AS signs them as they are.
// - Nested ~8,000 levels deep, JSON.stringify overflowed the stack while the gateway built the upstream
//   header or the refusal's log detail: 500 GW_INTERNAL for a signed token or an introspection answer.
//   Now refused as an invalid token past 32 levels, before anything is stringified.
// - 700 consented accounts made a ~24 KB upstream header: the upstream's own 431 reached a client with
//   tiny headers (logged allow/OK), and larger lists dropped the connection. Now the gateway refuses with
//   its own 431 (logged GW_AUTHORIZATION_DETAILS_TOO_LARGE), never a partial or missing header.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorContract } from '../support/contract.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { opaqueIssuer, startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfX5t } from '../support/issuer.js';
import { testPki, writePki } from '../support/pki.js';

let h: Harness;
let as: IntrospectionAs;
beforeAll(async () => {
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  as = await startIntrospectionAs({ pki, client: { id: 'gw-mtls', auth: 'tls_client_auth', x5t: pki.client1.x5tS256 } });
  h = await startHarness({
    patch: (c) => {
      c.server.limits = { max_credential_bytes: 32768, max_header_bytes: 65536 };
      c.issuers.opaque = opaqueIssuer(as, files);
      c.routes.push({
        id: 'pay',
        match: { methods: ['GET'], path_prefix: '/pay' },
        auth: { issuers: ['main', 'opaque'], audience: 'https://api.test', binding: 'any', authorization_details: { all_of: [{ type: 'payment_initiation' }] } },
        upstream: { url: c.routes[0].upstream.url, timeout_ms: 2000 },
      });
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/** An AS-signed access token whose authorization_details JSON text is `detailsJson` as written. */
const signedWithRawDetails = (detailsJson: string): Promise<string> =>
  h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: '@@' }, { payloadText: (json) => json.replace('"@@"', detailsJson) });

const call = (path: string, token: string, iid = randomUUID()) =>
  h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });

describe('hostile authorization_details', () => {
  it('TOK-7 entries nested 8,000 deep (signed JWT) -> 401 invalid_token on routes with and without a rule, never a 500, never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const [path, details] of [
      ['/accounts/1', `[{"type":"account_information","accounts":${nested(8000)}}]`],
      ['/pay/1', `[{"type":${nested(8000)}}]`],
    ] as const) {
      const iid = randomUUID();
      const r = await call(path, await signedWithRawDetails(details), iid);
      expectErrorContract(r, 401, 'invalid_token');
      expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_TOKEN_INVALID', detail: 'TOK-7 authorization_details nested deeper than 32 levels' });
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('TOK-7 nesting within 32 levels is forwarded as usual', async () => {
    const details = `[{"type":"payment_initiation","remittance":${nested(30)}}]`;
    const r = await call('/pay/1', await signedWithRawDetails(details));
    expect(r.status).toBe(200);
    const got = JSON.parse(Buffer.from(String(h.upstream.received.at(-1)?.headers['x-authenticated-authorization-details']), 'base64url').toString());
    expect(got).toEqual(JSON.parse(details));
  });

  it('TOK-7 an introspection answer nested 8,000 deep -> 401 invalid_token, never a 500', async () => {
    const token = as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256) });
    // 3,000 levels: as deep as the test AS's JSON.stringify can still serialise.
    as.update(token, { authorization_details: JSON.parse(`[{"type":"payment_initiation","x":${nested(3000)}}]`) });
    const iid = randomUUID();
    const r = await call('/pay/1', token, iid);
    expectErrorContract(r, 401, 'invalid_token');
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_TOKEN_INVALID' });
  });

  it('Q-9 entries whose header would pass max_authorization_details_bytes (8 KiB) -> the gateway\'s own 431, logged, never forwarded', async () => {
    const before = h.upstream.received.length;
    const accounts = Array.from({ length: 700 }, (_, i) => `DE${String(i).padStart(20, '0')}`);
    const token = as.issueOpaque({ aud: 'https://api.test', cnf: cnfX5t(h.pki.client1.x5tS256), authorization_details: [{ type: 'payment_initiation', accounts }] });
    const iid = randomUUID();
    const r = await call('/pay/1', token, iid);
    expectErrorContract(r, 431, 'invalid_request');
    const line = await logFor(h, iid);
    expect(line).toMatchObject({ reason: 'GW_AUTHORIZATION_DETAILS_TOO_LARGE', status: 431, decision: 'deny' });
    expect(String(line?.detail)).toMatch(/^Q-9 authorization_details header would be \d{5} bytes, over max_authorization_details_bytes 8192$/);
    expect(h.upstream.received.length).toBe(before);
  });
});
