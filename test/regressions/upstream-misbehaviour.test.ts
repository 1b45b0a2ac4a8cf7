// Upstreams that break HTTP in ways the client must not pay for (found in review; each failed on the
// code before): bytes after a complete 204 or HEAD answer, a 101 to a request that asked for no
// upgrade, and a close-delimited body that stalls. The upstream is a raw TCP server on loopback.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';

const TIMEOUT_MS = 1500;
const ROUTES = [
  { id: 'mtls', match: { methods: ['GET', 'HEAD', 'DELETE', 'POST'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: TIMEOUT_MS } },
];

let reply = '';
const sockets = new Set<Socket>();
const up = createServer((s) => {
  sockets.add(s);
  s.on('error', () => undefined);
  s.once('data', () => s.write(reply));
});
let h: Harness;
let token: string;
beforeAll(async () => {
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const port = (up.address() as AddressInfo).port;
  h = await startHarness({ routes: ROUTES, upstream: upstreamAt(port) });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => up.close(() => r()));
});

const request = (method: string): string => `${method} /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`;

describe('upstream misbehaviour', () => {
  it('a 204 followed by a chunked body: the client still gets its 204', async () => {
    reply = 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    const r = parseRawResponse((await h.raw(request('DELETE'))).response);
    expect(r.status).toBe(204);
    expect(r.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a 204 with Content-Length: 5 and five bytes: 204, nothing after it', async () => {
    reply = 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello';
    const { response } = await h.raw(request('DELETE'));
    expect(parseRawResponse(response).status).toBe(204);
    expect(response).not.toContain('hello');
  });

  it('a HEAD answered with a body: the client gets the 200 head only', async () => {
    reply = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
    const { response } = await h.raw(request('HEAD'));
    const r = parseRawResponse(response);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('5');
    expect(r.body).toBe('');
  });

  it('101 Switching Protocols to a plain GET -> 502 at once, not a connection left waiting', async () => {
    reply = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n';
    const t0 = performance.now();
    const { response } = await h.raw(request('GET'), 4000);
    expect(parseRawResponse(response).status).toBe(502);
    expect(response).toContain('"error":"bad_gateway"');
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS);
    const line = await logFor(h, parseRawResponse(response).headers['x-fapi-interaction-id'] as string);
    expect(line?.reason).toBe('GW_UPSTREAM_UNAVAILABLE');
    expect(String(line?.detail)).toContain('101 Switching Protocols');
  });

  it('the same 101 to a POST with Expect: 100-continue (http-proxy-3 emits no proxyReq for it) -> 502 at once', async () => {
    reply = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n';
    const t0 = performance.now();
    const head = `POST /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`;
    const { response } = await h.raw(head, 4000);
    expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 502 /);
    expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS);
  });

  it('a close-delimited body that stalls is cut after timeout_ms (as one with Content-Length is)', async () => {
    reply = 'HTTP/1.0 200 OK\r\n\r\npartial';
    const t0 = performance.now();
    const { response, closed } = await h.raw(request('GET'), 3 * TIMEOUT_MS);
    const elapsed = performance.now() - t0;
    expect(closed).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(2.5 * TIMEOUT_MS);
    // The head and the bytes sent were passed on; the cut connection tells the client the body is short.
    expect(parseRawResponse(response).status).toBe(200);
    const line = await logFor(h, parseRawResponse(response).headers['x-fapi-interaction-id'] as string);
    expect(line?.reason).toBe('GW_UPSTREAM_TIMEOUT');
    expect(String(line?.detail)).toContain('upstream response body stalled');
  });
});
