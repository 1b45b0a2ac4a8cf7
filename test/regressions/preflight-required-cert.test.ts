// Found in review (fixed; the test failed before): README (tls.client_certificate, resource_metadata.without_client_certificate, "Browser clients (CORS)"),
// TLS-9, PRM-6, HDR-15.
// Bug: under `tls.client_certificate: required` with metadata served to certificate-less connections
// (PRM-6), the README promises "any other request on such a connection gets 403 GW_CLIENT_CERT_REQUIRED
// ... and the connection closes", and for browsers "with tls.client_certificate: required a browser's
// connection (preflights included) is refused at the handshake". But a CORS preflight is answered (204,
// with the route's whole CORS policy, connection kept open) before the per-request certificate check:
// src/gateway.ts:405-409 (the OPTIONS preflight branch) runs before src/gateway.ts:412-420
// (requiredCertificateMissing), which sits after routing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, rawTls } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';

const APP = 'https://app.bank.example';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.tls.client_certificate = 'required';
      c.server.tls.client_ca_file = c.issuers.main.ca_file;
      c.resource_metadata = { resource_name: 'Test bank API' };
      c.routes.push({
        id: 'spa',
        match: { methods: ['GET', 'POST'], path_prefix: '/spa' },
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

/** Raw bytes over TLS without any client certificate. */
const noCert = (payload: string) => rawTls('127.0.0.1', h.port, { ca: h.pki.ca.certPem, servername: 'localhost', payload });

const preflight = `OPTIONS /spa/1 HTTP/1.1\r\nHost: api.test\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, dpop\r\n\r\n`;

describe('TLS-9/PRM-6: a certificate-less connection gets nothing but the metadata', () => {
  it('control: a plain API request on the same route is 403 GW_CLIENT_CERT_REQUIRED and closes the connection', async () => {
    const { response, closed } = await noCert(`GET /spa/1 HTTP/1.1\r\nHost: api.test\r\nOrigin: ${APP}\r\n\r\n`);
    expect(parseRawResponse(response).status).toBe(403);
    expect(closed).toBe(true);
  });

  it('a CORS preflight without a client certificate is refused like any other API request (403, connection closed)', async () => {
    const before = h.upstream.received.length;
    const { response, closed } = await noCert(preflight);
    const r = parseRawResponse(response);
    // Currently: 204 with access-control-allow-origin / -methods / -headers, and the connection stays open.
    expect(r.status, r.head).toBe(403);
    expect(r.headers['access-control-allow-methods']).toBeUndefined();
    expect(closed).toBe(true);
    expect(h.upstream.received.length).toBe(before);
  });
});
