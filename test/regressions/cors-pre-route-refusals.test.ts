// Regression (review of 1a893fe, failed before the fix): HDR-15 / HDR-1: "Every answer to an allowed origin, refusals included, carries
// Access-Control-Allow-Origin" (README, Browser clients). The strict Q-8 and HDR-4/5 checks run before the
// route is matched, so their 400s on a cors route carry no CORS headers at all: the browser turns them into
// an opaque network error, and the script can read neither the error nor the x-fapi-interaction-id.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestResponse } from '../support/client.js';
import { expectErrorContract } from '../support/contract.js';
import { startHarness, type Harness } from '../support/gateway.js';

const APP = 'https://app.bank.example';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.interaction_id = 'strict';
      c.server.fapi_headers = 'strict';
      c.server.limits = { max_headers: 16 };
      c.routes.push({
        id: 'spa',
        match: { methods: ['GET'], path_prefix: '/spa' },
        auth: { issuers: ['main'], audience: 'https://api.test', binding: 'any' },
        upstream: { url: c.routes[0].upstream.url, timeout_ms: 2000 },
        cors: { allowed_origins: [APP] },
      });
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const varies = (r: TestResponse): string[] => (r.headersDistinct.vary ?? []).flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase());

describe('HDR-15 refusals made before routing, to an allowed origin on a cors route', () => {
  it('HDR-15/HDR-4 strict fapi_headers: a malformed x-fapi-customer-ip-address 400 is readable by the allowed origin', async () => {
    const r = await h.call('/spa/1', { headers: [['Origin', APP], ['x-fapi-customer-ip-address', 'not-an-ip'], ['x-fapi-interaction-id', randomUUID()]] });
    expectErrorContract(r, 400, 'invalid_request');
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers'])).toContain('x-fapi-interaction-id');
    expect(varies(r)).toContain('origin');
  });

  it('HDR-15/Q-8 strict interaction_id: a non-UUID x-fapi-interaction-id 400 is readable by the allowed origin', async () => {
    const r = await h.call('/spa/1', { headers: [['Origin', APP], ['x-fapi-interaction-id', 'order-42']] });
    expectErrorContract(r, 400, 'invalid_request');
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers'])).toContain('x-fapi-interaction-id');
    expect(varies(r)).toContain('origin');
  });

  // Review of b349a56: the pipeline's own HDR-16 refusal of too many header fields is made before
  // routing too, and the route is known (method, path and Host are fine); the lookup re-ran the whole
  // request parse, which threw on the same count, so the 431 carried no CORS headers.
  it('HDR-15 / HDR-16 the 431 for too many header fields on a cors route is readable by the allowed origin', async () => {
    const extra: [string, string][] = Array.from({ length: 20 }, (_, i) => [`x-extra-${i}`, 'v']);
    const r = await h.call('/spa/1', { headers: [['Origin', APP], ['x-fapi-interaction-id', randomUUID()], ...extra] });
    expect(r.status).toBe(431);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers'])).toContain('x-fapi-interaction-id');
  });
});
