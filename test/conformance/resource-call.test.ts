// The OpenID conformance suite's checks on every resource call (§16.1, CONF-1), as
// AbstractFAPI2SPFinalServerTestModule.requestProtectedResource makes them: a valid sender-constrained
// token plus x-fapi-auth-date (now), x-fapi-customer-ip-address 198.51.100.119 and a random
// x-fapi-interaction-id. The DPoP variant calls without a client certificate. Expected: 200/201, a Date
// in RFC 1123 form within 5 minutes (CheckForDateHeaderInResourceResponse), and the same interaction id
// back (EnsureMatchingFAPIInteractionId, compared case-insensitively).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness();
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

/** The headers the suite's first client adds to every resource call. */
const fapiHeaders = (iid: string): [string, string][] => [
  ['x-fapi-auth-date', new Date().toUTCString()],
  ['x-fapi-customer-ip-address', '198.51.100.119'],
  ['x-fapi-interaction-id', iid],
];

function expectSuiteAccepts(r: TestResponse, iid: string): void {
  expect([200, 201]).toContain(r.status);
  const date = r.headers.date ?? '';
  expect(date).toMatch(RFC1123);
  expect(Math.abs(Date.parse(date) - Date.now())).toBeLessThan(5 * 60_000);
  const echoed = r.headers['x-fapi-interaction-id'] as string;
  expect(echoed).toMatch(UUID);
  expect(echoed.toLowerCase()).toBe(iid.toLowerCase());
  const up = h.upstream.received.at(-1)!;
  expect(up.headers['x-fapi-customer-ip-address']).toBe('198.51.100.119');
  expect(up.headers['x-fapi-interaction-id']).toBe(echoed);
}

describe('OpenID conformance: checks on every resource call (§16.1)', () => {
  it('CONF-1 / TLS-9: DPoP variant, no client certificate, with the x-fapi headers -> 200, RFC 1123 Date, the same interaction id', async () => {
    const iid = randomUUID();
    const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
    const p = await proof(key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/accounts/1`, token });
    const r = await h.call('/accounts/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', p], ...fapiHeaders(iid)] });
    expectSuiteAccepts(r, iid);
  });
  it('CONF-1: mTLS variant with the x-fapi headers -> 200, RFC 1123 Date, the same interaction id', async () => {
    const iid = randomUUID();
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ...fapiHeaders(iid)] });
    expectSuiteAccepts(r, iid);
  });
});
