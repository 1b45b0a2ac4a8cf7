// Found in review (fixed; the test failed before): PRM-6 / TLS-9 across a reload. Under tls.client_certificate: required with
// resource_metadata (without_client_certificate: true) a client without a certificate gets a connection
// (for the metadata). A reload to without_client_certificate: false (or removing resource_metadata) turns
// the per-request check off (certificateRequiredPerRequest = requiredPerRequest, src/listen/tls-options.ts
// and src/main.ts) and moves the requirement back to the handshake, which the open keep-alive connection
// has already passed: its API requests are now forwarded without any client certificate. The reload
// closes idle connections only when the client CAs change (src/main.ts reload, casChanged).
import { connect, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proof } from '../support/dpop.js';
import { caller, type Caller } from '../support/dpop-caller.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';

type Patch = (c: Record<string, any>) => void;
const perRequest: Patch = (c) => {
  c.server.tls.client_certificate = 'required';
  c.server.tls.client_ca_file = c.issuers.main.ca_file;
  c.resource_metadata = { resource_name: 'Test bank API' };
};
const atHandshake: Patch = (c) => {
  perRequest(c);
  c.resource_metadata.without_client_certificate = false;
};

let h: Harness;
let c: Caller;
beforeAll(async () => {
  h = await startHarness({ patch: perRequest });
  c = await caller(h.issuer);
});
afterAll(async () => {
  await h?.close();
});

/** One keep-alive TLS connection without a client certificate; `send` writes a request and waits for a reply. */
async function certless(): Promise<{ socket: TLSSocket; send(req: string): Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost' });
  await new Promise<void>((ok, ko) => {
    socket.once('secureConnect', ok);
    socket.once('error', ko);
  });
  let buf = '';
  socket.on('data', (d: Buffer) => (buf += d.toString('latin1')));
  socket.on('error', () => undefined);
  return {
    socket,
    async send(req) {
      buf = '';
      socket.write(req);
      const end = Date.now() + 3000;
      while (Date.now() < end && !/\r\n\r\n/.test(buf) && !socket.destroyed) await sleep(10);
      await sleep(50);
      return buf;
    },
  };
}

describe('PRM-6 a reload that moves the requirement to the handshake', () => {
  it('PRM-6 / TLS-9: a connection opened without a certificate for the metadata gets no API access after the reload', async () => {
    const conn = await certless();
    try {
      const meta = await conn.send('GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: api.test\r\n\r\n');
      expect(meta).toMatch(/^HTTP\/1\.1 200/);
      h.reload(atHandshake);
      // New connections without a certificate are refused at the handshake now...
      await expect(h.call('/.well-known/oauth-protected-resource')).rejects.toThrow();
      // ...but the one already open is served.
      const { token } = await c.fresh();
      const p = await proof(c.key, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/x`, token });
      const before = h.upstream.received.length;
      const api = await conn.send(`GET /dpop/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: DPoP ${token}\r\nDPoP: ${p}\r\n\r\n`);
      expect({ status: api.slice(0, 12), forwarded: h.upstream.received.length - before }).toEqual({ status: 'HTTP/1.1 403', forwarded: 0 });
    } finally {
      conn.socket.destroy();
    }
  }, 20_000);
});
