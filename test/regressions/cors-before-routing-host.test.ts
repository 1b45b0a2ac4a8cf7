// Regression (failed before the fix), review of 98efd3f: corsBeforeRouting now reads Host with hostOf() and no validation. A request whose
// Host the pipeline itself refuses as malformed (request-facts: "`api.test:1@evil.example` would match
// a host route") is no request of that route, yet its 400 now carries the route's CORS headers (before
// 98efd3f it did not: "The request itself is malformed (path, Host, header count): no route, so no CORS").
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';

const APP = 'https://app.bank.example';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.routes.push({
        id: 'spa',
        match: { methods: ['GET'], path_prefix: '/spa', host: 'api.test' },
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

const get = (host: string): string =>
  `GET /spa/1 HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${APP}\r\nx-fapi-interaction-id: ${randomUUID()}\r\nConnection: close\r\n\r\n`;

describe('review 98efd3f: CORS on refusals before routing only for requests of the route', () => {
  it('a malformed Host (api.test:1@evil.example) is refused 400 with no route, so without the route CORS headers', async () => {
    // The same request with a well-formed Host reaches the route, and its 401 carries CORS.
    const ok = await h.raw(get('api.test:443'));
    expect(ok.response).toMatch(/^HTTP\/1\.1 401/);
    expect(ok.response.toLowerCase()).toContain(`access-control-allow-origin: ${APP}`);
    const { response } = await h.raw(get('api.test:1@evil.example'));
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(response.toLowerCase()).not.toContain('access-control-allow-origin');
  });

  it('two Host fields are refused 400 with no route, so without the route CORS headers', async () => {
    const req = `GET /spa/1 HTTP/1.1\r\nHost: api.test\r\nHost: evil.example\r\nOrigin: ${APP}\r\nConnection: close\r\n\r\n`;
    const { response } = await h.raw(req);
    expect(response).toMatch(/^HTTP\/1\.1 400/);
    expect(response.toLowerCase()).not.toContain('access-control-allow-origin');
  });
});
