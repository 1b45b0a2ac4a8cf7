// Regression (review of 1a893fe, failed before the fix): HDR-15: a POST from an allowed origin whose body stalls is answered 408 by the listener's canned
// answer (api-server.ts cannedAnswer), which knows nothing of the route's CORS policy: the browser sees a
// network error instead of a readable 408 with its interaction id, although README promises CORS headers on
// every answer to an allowed origin, refusals included.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { dpopKey, proof } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt } from '../support/issuer.js';

const APP = 'https://app.bank.example';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.limits = { headers_timeout_ms: 1000, request_timeout_ms: 1000 };
      c.routes.push({
        id: 'spa',
        match: { methods: ['POST'], path_prefix: '/spa' },
        auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop' },
        upstream: { url: c.routes[0].upstream.url, timeout_ms: 5000 },
        cors: { allowed_origins: [APP] },
      });
    },
  });
});
afterAll(async () => {
  await h?.close();
});

it('HDR-15 a 408 for a stalled body, to an allowed origin, carries Access-Control-Allow-Origin', async () => {
  const key = await dpopKey();
  const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
  const p = await proof(key, { htm: 'POST', htu: `${PUBLIC_ORIGIN}/spa/1`, token });
  const head =
    `POST /spa/1 HTTP/1.1\r\nHost: api.test\r\nOrigin: ${APP}\r\nAuthorization: DPoP ${token}\r\nDPoP: ${p}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":';
  const r = parseRawResponse((await h.raw(head, 4000)).response);
  expect(r.status).toBe(408);
  expect(r.headers['access-control-allow-origin']).toBe(APP);
  expect(r.headers['access-control-expose-headers']).toContain('x-fapi-interaction-id');
}, 10_000);
