// Expect: 100-continue (RFC 9110 §10.1.1), found in review: Node sent the interim 100 before the
// pipeline ran, so a client with a bad token was told to upload its whole body only to be refused.
// The 100 is now sent only once the request will be forwarded; a refusal comes without it and closes
// the connection (the client may still send the announced body, which must not be read as a request).
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

/** A TLS connection whose received text can be awaited piece by piece. */
async function open(): Promise<{ socket: TLSSocket; text: () => string; until: (re: RegExp, ms?: number) => Promise<boolean>; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
  let text = '';
  socket.setEncoding('latin1').on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((ok) => socket.on('close', () => ok()));
  await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
  const until = async (re: RegExp, ms = 2000): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!re.test(text) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return re.test(text);
  };
  return { socket, text: () => text, until, closed };
}

const head = (path: string, authorization: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n`;

describe('Expect: 100-continue is answered after the checks', () => {
  it('a valid request gets the 100 before it sends its body, then the upstream answer', async () => {
    const before = h.upstream.received.length;
    const c = await open();
    try {
      c.socket.write(head('/mtls/pay', `Bearer ${token}`));
      expect(await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/)).toBe(true);
      // Nothing was forwarded yet but the head: the body is sent only now.
      c.socket.write('{"a":1}');
      expect(await c.until(/HTTP\/1\.1 200 [\s\S]*\r\n\r\n/)).toBe(true);
    } finally {
      c.socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(h.upstream.received.slice(before).map((r) => r.body.toString())).toEqual(['{"a":1}']);
  });

  it('TOK-1 / ERR-1: an invalid token is refused at once, without a 100, and the connection closes', async () => {
    const before = h.upstream.received.length;
    const c = await open();
    try {
      c.socket.write(head('/mtls/pay', 'Bearer not-a-valid-token'));
      // The client has not sent its body: the answer must not wait for it.
      expect(await c.until(/^HTTP\/1\.1 401 [\s\S]*\r\n\r\n/)).toBe(true);
      expect(c.text()).not.toContain('100 Continue');
      expect(c.text().toLowerCase()).toContain('\r\nconnection: close\r\n');
      expect(c.text()).toMatch(/\r\nWWW-Authenticate: Bearer [^\r]*error="invalid_token"/i);
      // A body sent anyway is not taken for a request.
      c.socket.write('{"a":1}');
      await Promise.race([c.closed, new Promise((r) => setTimeout(r, 2000))]);
      expect(c.socket.destroyed || c.socket.readableEnded).toBe(true);
      expect(c.text().match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 401']);
    } finally {
      c.socket.destroy();
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('HDR-1: no route -> 404 without a 100, never forwarded', async () => {
    const before = h.upstream.received.length;
    const c = await open();
    try {
      c.socket.write(head('/nowhere', `Bearer ${token}`));
      expect(await c.until(/^HTTP\/1\.1 404 [\s\S]*\r\n\r\n/)).toBe(true);
      expect(c.text()).not.toContain('100 Continue');
    } finally {
      c.socket.destroy();
    }
    expect(h.upstream.received.length).toBe(before);
  });
});
