// Found in review (fixed; the test failed before): MTLS-4 / README `tls.client_ca_file` ("After a reload that changes this file, connections verified
// under the old CAs are checked again against the new ones"): a client whose certificate is issued by an
// intermediate CA it sends in the handshake (the usual PKI shape: client_ca_file holds the root).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { issued, root, type Made } from '../support/pki-chain.js';

let h: Harness;
let rootCa: Made;
let leaf: Made;
let chainPem: string;
let rootFile: string;
let rootPlusOtherFile: string;

beforeAll(async () => {
  rootCa = await root('client root');
  const inter = await issued(rootCa, 'issuing CA', true);
  leaf = await issued(inter, 'client', false);
  chainPem = leaf.certPem + inter.certPem;
  const other = await root('another client root');
  h = await startHarness();
  rootFile = join(h.files.dir, 'client-root.pem');
  rootPlusOtherFile = join(h.files.dir, 'client-root-plus-other.pem');
  writeFileSync(rootFile, rootCa.certPem);
  writeFileSync(rootPlusOtherFile, rootCa.certPem + other.certPem);
  h.reload((c) => (c.server.tls.client_ca_file = rootFile));
}, 60_000);
afterAll(async () => {
  await h?.close();
});

async function open(): Promise<{ sock: TLSSocket; get: (path: string, token: string) => Promise<string>; head: () => string }> {
  const sock = connect({ host: '127.0.0.1', port: h.port, servername: 'localhost', ca: h.pki.ca.certPem, cert: chainPem, key: leaf.keyPem });
  sock.on('error', () => undefined);
  await new Promise<void>((r, j) => (sock.once('secureConnect', () => r()), sock.once('error', j)));
  let buf = '';
  sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
  const get = async (path: string, token: string): Promise<string> => {
    buf = '';
    sock.write(`GET ${path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    for (let i = 0; i < 500 && !/\r\n\r\n[\s\S]*\}/.test(buf) && !/content-length: 0\r\n\r\n/i.test(buf); i++) await new Promise((r) => setTimeout(r, 10));
    return buf.slice(9, 12);
  };
  return { sock, get, head: () => buf.slice(0, buf.indexOf('\r\n\r\n')) };
}

describe('MTLS-4: a reload that only ADDS a client CA must not cut off clients whose chain still validates', () => {
  it('control: leaf + intermediate sent in the handshake, client_ca_file = root -> 200 on a new connection', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(leaf.x5tS256) });
    const { sock, get } = await open();
    try {
      expect(await get('/mtls/control', token)).toBe('200');
    } finally {
      sock.destroy();
    }
  });

  // MTLS-4 + README `tls.client_ca_file`. The bug was: after any reload that changed client_ca_file, a
  // connection busy at that moment was kept and re-checked per request by chainsTo(), which cannot see the
  // intermediates the client sent in its handshake (Node does not expose them on the server side). The
  // root that verified this chain was still in the new file, yet every later request on the kept-alive
  // connection got 401 invalid_token (GW_CERT_UNTRUSTED) until the client happened to reconnect. Now the
  // busy connection closes after its response (Connection: close), and the client's new connection is
  // verified by OpenSSL with its intermediates.
  it('a request in flight during a reload that adds an unrelated CA: its answer closes the connection; the next one -> 200', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(leaf.x5tS256) });
    const { sock, get, head } = await open();
    try {
      h.upstream.delayMs = 600;
      const first = get('/mtls/in-flight', token);
      await new Promise((r) => setTimeout(r, 200));
      // The new file still holds the root this client chains to, plus another root.
      h.reload((c) => (c.server.tls.client_ca_file = rootPlusOtherFile));
      expect(await first).toBe('200');
      h.upstream.delayMs = 0;
      expect(head()).toMatch(/\r\nconnection: close/i);
      await new Promise<void>((r) => (sock.destroyed ? r() : sock.once('close', () => r())));
      const again = await open();
      try {
        expect(await again.get('/mtls/after-reload', token)).toBe('200');
      } finally {
        again.sock.destroy();
      }
    } finally {
      h.upstream.delayMs = 0;
      sock.destroy();
      h.reload((c) => (c.server.tls.client_ca_file = rootFile));
    }
  }, 20_000);
});
