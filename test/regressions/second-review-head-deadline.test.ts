// Found in review (fixed; the tests that failed before say what the bug was): a second review of 49825f8 / 3291543: the upstream head deadline in src/forward/proxy-forwarder.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';

const TIMEOUT_MS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function open(h: Harness): Promise<{ s: TLSSocket; text(): string; closed: Promise<void>; reply(ms: number): Promise<string> }> {
  const s = await new Promise<TLSSocket>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem }, () => resolve(c));
    c.once('error', reject);
  });
  let buf = '';
  s.on('data', (c: Buffer) => (buf += c.toString('latin1')));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return {
    s,
    text: () => buf,
    closed,
    async reply(ms) {
      await Promise.race([closed, sleep(ms)]);
      s.destroy();
      return buf;
    },
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler;
let server: Server;
let h: Harness;
let token: string;
const received: { url: string; bytes: number; complete: boolean }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h = await startHarness({
    upstream: upstreamAt((server.address() as AddressInfo).port),
    routes: [{ id: 'up', match: { methods: ['GET', 'POST'], path_prefix: '/up' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: TIMEOUT_MS } }],
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
}, 60_000);
afterAll(async () => {
  await h?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => server?.close(() => r()));
});

/** The upstream reads the whole body, then answers at once. */
const readThenAnswer: Handler = (req, res) => {
  let bytes = 0;
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    received.push({ url: req.url ?? '', bytes, complete: req.complete });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes }));
  });
};

describe('the client pausing its upload', () => {
  // README `upstream.timeout_ms` ("the client's upload [is] `limits.request_timeout_ms`'s: after [it], the
  // head gets timeout_ms again") and commit 49825f8 ("the client's upload is not the upstream's time"). The
  // bug: the upstream request's idle timer (upstreamReq.setTimeout(timeout_ms, onUpstreamTimeout),
  // src/forward/proxy-forwarder.ts:463) also runs while the gateway has nothing to write because the CLIENT
  // paused its upload: a pause longer than timeout_ms (a mobile client, a slow disk) is cut with 504
  // GW_UPSTREAM_TIMEOUT, blamed on a healthy upstream, which gets a truncated body. The head deadline was
  // fixed to wait for the upload; the idle timer was not.
  it('a body with a 2 x timeout_ms pause mid-upload, to an upstream that answers once it has it -> 200', async () => {
    handler = readThenAnswer;
    const c = await open(h);
    c.s.write(`POST /up/pause HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 200\r\nConnection: close\r\n\r\n`);
    c.s.write('a'.repeat(100));
    await sleep(2 * TIMEOUT_MS);
    if (!c.s.destroyed) c.s.write('b'.repeat(100));
    const r = parseRawResponse(await c.reply(3000));
    const line = await logFor(h, r.headers['x-fapi-interaction-id'] as string);
    expect({ status: r.status, reason: line?.reason }).toEqual({ status: 200, reason: 'OK' });
  }, 15_000);
});

describe('an upstream that answers before it has read the body', () => {
  // RFC 9112 §9.6 and the gateway's own rule that no request on a connection is lost (src/gateway.ts inTurn;
  // README pipelining), ERR contract (every request gets an answer). The bug: an upstream may answer early
  // (413, 401) without reading the body and close its connection. http-proxy-3 then unpipes the client
  // request from the destroyed upstream request and leaves it paused; the proxyRes handler
  // (src/forward/proxy-forwarder.ts:499-520) writes the answer with Connection: keep-alive although the
  // request body was never consumed (req.complete false), and nothing resumes or drains it. The
  // connection hangs: the client's next request is never read or answered, until request_timeout_ms
  // (30 s) cuts the socket. Fix: when the head is written before req.complete, set res.shouldKeepAlive =
  // false (or req.resume() to discard the rest once the upstream request is gone).
  it('upstream 413 while the client still uploads: the client gets 413, and its next request on the connection is answered or the connection closes', async () => {
    handler = (req, res) => {
      if (req.url?.startsWith('/up/early')) {
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end('{"error":"too big"}');
        return;
      }
      readThenAnswer(req, res);
    };
    const c = await open(h);
    const total = 256 * 1024;
    c.s.write(`POST /up/early HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
    c.s.write(Buffer.alloc(16 * 1024, 0x61));
    for (let i = 0; i < 200 && !/HTTP\/1\.1 \d{3} [\s\S]*\r\n\r\n/.test(c.text()); i++) await sleep(10);
    const first = c.text();
    // The rest of the body, then a second request on the same connection.
    for (let sent = 16 * 1024; sent < total && !c.s.destroyed; sent += 16 * 1024) c.s.write(Buffer.alloc(16 * 1024, 0x62));
    if (!c.s.destroyed) c.s.write(`GET /up/next HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await Promise.race([c.closed, sleep(3000)]);
    const all = c.text();
    const closed = c.s.destroyed || c.s.readyState !== 'open';
    c.s.destroy();
    const answers = (all.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
    expect({ first: first.slice(9, 12), resolved: answers === 2 || closed }).toEqual({ first: '413', resolved: true });
  }, 15_000);
});

describe('a slow upload to an upstream that never answers', () => {
  // Passing pin (49825f8): the deadline waits for the upload, then gives the head timeout_ms: 504 about
  // timeout_ms after the last byte, never an endless wait.
  it('steady upload over ~2.5 x timeout_ms, upstream reads it and never answers -> 504 within timeout_ms + 700 ms of the last byte', async () => {
    handler = (req) => {
      req.resume();
    };
    const c = await open(h);
    c.s.write(`POST /up/slow-hang HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n`);
    for (let i = 0; i < 10 && !c.s.destroyed; i++) {
      await sleep(150);
      c.s.write('x'.repeat(100));
    }
    const last = Date.now();
    for (let i = 0; i < 300 && !/HTTP\/1\.1 \d{3} /.test(c.text()); i++) await sleep(10);
    const took = Date.now() - last;
    const r = parseRawResponse(await c.reply(500));
    expect({ status: r.status, inTime: took < TIMEOUT_MS + 700 }).toEqual({ status: 504, inTime: true });
  }, 15_000);
});
