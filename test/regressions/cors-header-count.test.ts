// Regression (failed before the fix), review of b349a56 (HDR-15 CORS on refusals made before routing). README, Browser clients: "Every answer
// to an allowed origin, refusals included (also those made before routing ...)". The pipeline's own
// HDR-16 refusal of too many header fields (431, server.limits.max_headers) is made before routing too,
// and the route is known (method, path and Host are fine), but corsBeforeRouting re-runs requestFacts,
// which throws on the same header count, so the 431 carries no CORS headers: an opaque error to the script.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

const APP = 'https://app.bank.example';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
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

describe('review HDR-15 / HDR-16', () => {
  it('HDR-15 the 431 for too many header fields on a cors route is readable by the allowed origin', async () => {
    const extra: [string, string][] = Array.from({ length: 20 }, (_, i) => [`x-extra-${i}`, 'v']);
    const r = await h.call('/spa/1', { headers: [['Origin', APP], ['x-fapi-interaction-id', randomUUID()], ...extra] });
    expect(r.status).toBe(431);
    expect(r.headers['access-control-allow-origin']).toBe(APP);
    expect(String(r.headers['access-control-expose-headers'])).toContain('x-fapi-interaction-id');
  });
});
