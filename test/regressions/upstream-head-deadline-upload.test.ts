// Found in review (fixed; the test failed before): a review of the change 3291543: the new upstream head deadline in src/forward/proxy-forwarder.ts.
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const TIMEOUT_MS = 600;

/** A TLS connection with client1's certificate; `reply()` resolves with what arrived when the server closes or `ms` passes. */
async function open(h: Harness): Promise<{ s: TLSSocket; reply(ms: number): Promise<string> }> {
  const s = await new Promise<TLSSocket>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem }, () => resolve(c));
    c.once('error', reject);
  });
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return {
    s,
    async reply(ms) {
      await Promise.race([closed, new Promise((r) => setTimeout(r, ms))]);
      s.destroy();
      return Buffer.concat(chunks).toString('latin1');
    },
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('upstream.timeout_ms head deadline vs. a request body still being uploaded', () => {
  let h: Harness;
  let up: TestUpstream;
  let token: string;
  beforeAll(async () => {
    // The default upstream reads the whole body, then answers at once.
    up = await startUpstream();
    h = await startHarness({
      upstream: up,
      routes: [{ id: 'upload', match: { methods: ['POST'], path_prefix: '/upload' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: TIMEOUT_MS } }],
    });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });

  // README `upstream.timeout_ms` ("No response head within this long of the request being forwarded")
  // and `limits.send_timeout_ms` ("waiting ... on the request body (request_timeout_ms) is not counted"):
  // the body upload is request_timeout_ms's (30 s by default). The bug was (a regression of 3291543): the head
  // deadline is armed at forward() (src/forward/proxy-forwarder.ts:527), before the body has been
  // streamed to the upstream, and never waits for the request body to end. An upload that takes longer
  // than timeout_ms (a steady client, a healthy upstream that answers as soon as it has the body) is cut
  // with 504 GW_UPSTREAM_TIMEOUT mid-body, blamed on the upstream, and the upstream got a truncated
  // request. Before, timeout_ms was an idle timer that every body write re-armed.
  it('a body streamed steadily over ~3 x timeout_ms to an upstream that answers once it has it -> 200', async () => {
    const c = await open(h);
    const chunks = 15;
    c.s.write(`POST /upload/file HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${chunks * 100}\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < chunks && !c.s.destroyed; i++) {
      await sleep(120);
      c.s.write('x'.repeat(100));
    }
    const r = parseRawResponse(await c.reply(3000));
    const line = await logFor(h, r.headers['x-fapi-interaction-id'] as string);
    expect({ status: r.status, reason: line?.reason, upstreamGotBody: up.received.some((q) => q.body.length === chunks * 100) }).toEqual({
      status: 200,
      reason: 'OK',
      upstreamGotBody: true,
    });
  }, 15_000);

  // Same with a chunked body (no Content-Length), the common case for a streamed upload.
  it('a chunked body streamed over ~3 x timeout_ms -> 200', async () => {
    const c = await open(h);
    c.s.write(`POST /upload/chunked HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < 15 && !c.s.destroyed; i++) {
      await sleep(120);
      c.s.write(`64\r\n${'y'.repeat(100)}\r\n`);
    }
    if (!c.s.destroyed) c.s.write('0\r\n\r\n');
    const r = parseRawResponse(await c.reply(3000));
    expect(r.status).toBe(200);
  }, 15_000);
});

describe('upstream head deadline after the client went away', () => {
  const LONG_TIMEOUT_MS = 8000;
  let h: Harness;
  let up: TestUpstream;
  let token: string;
  beforeAll(async () => {
    up = await startUpstream({ behaviour: 'hang' });
    h = await startHarness({
      upstream: up,
      routes: [{ id: 'hang', match: { methods: ['GET'], path_prefix: '/hang' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: LONG_TIMEOUT_MS } }],
    });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
    await up?.close();
  });
  const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  // Commit 3291543's claim ("leave no sockets or timers behind"). The bug was (low): a client that disconnects
  // while its request waits for the upstream: http-proxy-3 destroys the upstream request and, the client
  // socket being gone, calls no error callback, so clearHeadDeadline (src/forward/proxy-forwarder.ts:544)
  // never runs. The head deadline (proxy-forwarder.ts:527) stays armed for the whole timeout_ms and holds
  // the request, its response and socket (30 s by default) per aborted request.
  it('20 clients that give up before the upstream answers leave no head-deadline timer behind', async () => {
    await sleep(200);
    const before = timeouts();
    const conns = await Promise.all(Array.from({ length: 20 }, () => open(h)));
    for (const [i, c] of conns.entries()) c.s.write(`GET /hang/${i} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    // The requests reach the upstream; then every client gives up.
    for (let i = 0; i < 100 && up.received.length < 20; i++) await sleep(20);
    for (const c of conns) c.s.destroy();
    await sleep(500);
    expect(timeouts() - before).toBeLessThan(5);
  }, 20_000);
});
