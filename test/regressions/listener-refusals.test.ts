// Requests Node's parser answers before the pipeline (found in review; each failed on the code before):
// a CONNECT was dropped with no answer and no log line, and cut the answer to a request pipelined
// before it; parser refusals (400, 431) were logged but never counted in fapi_gateway_requests_total.
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const ROUTES = [{ id: 'mtls', match: { methods: ['GET', 'POST'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } }];
let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness({ routes: ROUTES });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});
const metrics = async (): Promise<string> => (await fetch(`${h.adminUrl}/metrics`)).text();

describe('CONNECT (never tunnelled)', () => {
  it('is answered 400 in the contract shape, with one log line', async () => {
    const before = h.logLines().length;
    const { response, closed } = await h.raw('CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 2000);
    expect(closed).toBe(true);
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    const id = /x-fapi-interaction-id: ([0-9a-f-]{36})/i.exec(response)?.[1];
    expect(id).toBeDefined();
    const lines = h.logLines().slice(before).filter((l) => l.interaction_id === id);
    expect(lines).toMatchObject([{ decision: 'deny', reason: 'GW_BAD_REQUEST', status: 400 }]);
  });

  it('pipelined after a POST: the POST is answered first, then the 400, then the connection closes', async () => {
    const post = `POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n\r\n{}`;
    const { response, closed } = await h.raw(`${post}CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`, 2000);
    expect(closed).toBe(true);
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
  });
});

describe('fapi_gateway_requests_total counts what the parser refuses', () => {
  it('a 431 (head too large) and a 400 (bad framing) are counted with their catalog codes', async () => {
    await h.raw(`GET /mtls/x HTTP/1.1\r\nHost: api.test\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, 1000);
    await h.raw('POST /mtls/x HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 1000);
    const m = await metrics();
    expect(m).toMatch(/fapi_gateway_requests_total\{[^}]*reason="GW_HEADERS_TOO_LARGE"[^}]*status="431"[^}]*\} [1-9]/);
    expect(m).toMatch(/fapi_gateway_requests_total\{[^}]*reason="GW_BAD_REQUEST"[^}]*status="400"[^}]*\} [1-9]/);
  });
});

describe('HDR-1: a request whose body the parser refuses (found in review)', () => {
  it('the 400 carries the request\'s own interaction id, and that request has exactly one log line, with the reason', async () => {
    const id = '1f6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a01';
    const before = h.logLines().length;
    const { response } = await h.raw(
      `POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n`,
      2000,
    );
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(response.toLowerCase()).toContain(`x-fapi-interaction-id: ${id}`);
    await new Promise((r) => setTimeout(r, 200));
    const lines = h.logLines().slice(before).filter((l) => l.decision !== undefined);
    expect(lines).toMatchObject([{ interaction_id: id, decision: 'deny', reason: 'GW_BAD_REQUEST', status: 400 }]);
  });
});

describe('HDR-1: the body refused on a kept-alive connection belongs to the second request, not the first', () => {
  it('request 1 is answered 200 under its id; request 2\'s bad chunk gets a 400 under request 2\'s id', async () => {
    const [id1, id2] = ['2a6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a01', '3b6b8b0e-6c1d-4f5e-9a3b-7d2c5e8f9a02'];
    const before = h.logLines().length;
    const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
    let text = '';
    socket.setEncoding('latin1').on('data', (d: string) => (text += d));
    const closed = new Promise<void>((ok) => socket.on('close', () => ok()));
    try {
      await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
      socket.write(`GET /mtls/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id1}\r\n\r\n`);
      for (let i = 0; i < 200 && !/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n/.test(text); i++) await new Promise((r) => setTimeout(r, 10));
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      await new Promise((r) => setTimeout(r, 50));
      const first = text.length;
      socket.write(`POST /mtls/pay HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id2}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n`);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      const second = text.slice(first);
      expect(second).toMatch(/^HTTP\/1\.1 400 /);
      expect(second.toLowerCase()).toContain(`x-fapi-interaction-id: ${id2}`);
    } finally {
      socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    const lines = h.logLines().slice(before).filter((l) => l.decision !== undefined);
    expect(lines).toMatchObject([
      { interaction_id: id1, decision: 'allow', status: 200 },
      { interaction_id: id2, decision: 'deny', reason: 'GW_BAD_REQUEST', status: 400 },
    ]);
  });
});
