// Found in review (fixed; the test failed before): the parser refusing a body is logged under the refused request's interaction id only when
// that request's response is the one on the socket (api-server.ts: `pending` and `!pending.req.complete`).
import { connect } from 'node:tls';
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

const ids = ['4c6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a01', '5d6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a02', '6e6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a03'];
const requestLines = (from: number) => h.logLines().slice(from).filter((l) => l.decision !== undefined);

describe('HDR-1/HDR-2: one log line, under its own id, for a request whose body the parser refuses', () => {
  it('pipelined behind a request still being answered: the refused request\'s line says GW_BAD_REQUEST, and no line with an id nobody sent', async () => {
    const before = h.logLines().length;
    h.upstream.delayMs = 300;
    try {
      const get = `GET /mtls/slow HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${ids[0]}\r\n\r\n`;
      const bad = `POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${ids[1]}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n`;
      const { response, closed } = await h.raw(get + bad, 2000);
      expect(closed).toBe(true);
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      h.upstream.delayMs = 0;
    }
    await new Promise((r) => setTimeout(r, 200));
    const lines = requestLines(before);
    expect(lines.map((l) => [l.interaction_id, l.decision, l.reason])).toEqual([
      [ids[0], 'allow', 'OK'],
      [ids[1], 'deny', 'GW_BAD_REQUEST'],
    ]);
  });

  it('refused by the gateway (401) before its body was read: a bad chunk arriving later neither gets a second response nor a second log line', async () => {
    const before = h.logLines().length;
    const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
    let text = '';
    socket.setEncoding('latin1').on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((ok) => socket.on('close', () => ok()));
    try {
      await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
      socket.write(`POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer not-a-token\r\nx-fapi-interaction-id: ${ids[2]}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n`);
      for (let i = 0; i < 200 && !/\r\n\r\n[\s\S]*\}/.test(text); i++) await new Promise((r) => setTimeout(r, 10));
      expect(text).toMatch(/^HTTP\/1\.1 401 /);
      await new Promise((r) => setTimeout(r, 100));
      socket.write('zz\r\n');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    } finally {
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    // One log line for one request, and one answer.
    expect(requestLines(before).map((l) => [l.interaction_id, l.status])).toEqual([[ids[2], 401]]);
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 401']);
  });
});
