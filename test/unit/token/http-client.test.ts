// TLS-11 outbound HTTPS (JWKS, metadata, introspection): one agent per trust and client-certificate
// setting. Connections are reused within a setting (an introspection per cache miss must not pay a
// handshake each time) and never across settings (a connection verified under one CA bundle must not
// serve a request that trusts another). Real TLS on loopback.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsRequest } from '../../../src/token/http-client.js';
import { createCa, testPki } from '../../support/pki.js';

let server: Server;
let url: string;
let ca: string;
let otherCa: string;
let handshakes = 0;
beforeAll(async () => {
  const pki = await testPki();
  ca = pki.ca.certPem;
  otherCa = (await createCa('another CA')).certPem;
  server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, keepAliveTimeout: 5000 }, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  server.on('secureConnection', () => void handshakes++);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
});

describe('outbound agents', () => {
  it('reuse a connection within one setting, and open another for a request that trusts other CAs', async () => {
    const before = handshakes;
    for (let i = 0; i < 3; i++) expect((await httpsRequest(url, { ca: [ca], timeoutMs: 2000 })).status).toBe(200);
    expect(handshakes - before).toBe(1);
    // The same server, trusted through a bundle that also holds another CA: a setting of its own.
    expect((await httpsRequest(url, { ca: [ca, otherCa], timeoutMs: 2000 })).status).toBe(200);
    expect(handshakes - before).toBe(2);
    // Trusting only the other CA: refused, not served on a pooled connection verified under the first.
    await expect(httpsRequest(url, { ca: [otherCa], timeoutMs: 2000 })).rejects.toThrow(/certificate/i);
  });
});
