// SIG-8: a client that disconnects while its signed response is being buffered: the upstream request is
// aborted (nothing more is read into memory), the log line says the client left, and the process carries
// on.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, type Harness } from '../support/gateway.js';
import { openTls, keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

let h: Harness;
let key: SigningKeyFile;
let upstreamClosedEarly: Promise<boolean>;
beforeAll(async () => {
  key = keyFile();
  h = await signingHarness([{ id: 'out', match: { methods: ['GET'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key);
  upstreamClosedEarly = new Promise((resolve) => {
    h.upstream.handler = (req, res) => {
      if (!(req.url ?? '').includes('/slow')) return void res.writeHead(200).end('{}');
      res.writeHead(200, { 'content-length': '200' });
      res.write('x'.repeat(100));
      const t = setTimeout(() => res.end('y'.repeat(100)), 1500);
      res.on('close', () => {
        clearTimeout(t);
        resolve(!res.writableFinished);
      });
    };
  });
});
afterAll(async () => {
  await h?.close();
  key.cleanup();
});

describe('client gone while the signed response is buffered', () => {
  it('the upstream request is aborted and the line says CLIENT_ABORTED', async () => {
    const iid = randomUUID();
    const c = await openTls(h);
    c.socket.write(`GET /out/slow HTTP/1.1\r\nHost: x\r\nx-fapi-interaction-id: ${iid}\r\nAuthorization: Bearer ${await mtlsToken(h)}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    c.socket.destroy();
    expect(await upstreamClosedEarly).toBe(true);
    const line = await logFor(h, iid);
    expect(line?.reason).toBe('CLIENT_ABORTED');
    // Still serving.
    expect((await h.call('/out/ok', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`]] })).status).toBe(200);
  });
});
