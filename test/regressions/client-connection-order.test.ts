// What the client's connection carries after the gateway has started an answer (RFC 9112 §9.3.2, §9.6):
// a pipelined request is not forwarded on a connection an earlier response closes (a pipelined POST
// would be executed upstream and never answered), and a framing error in a body the upstream is
// already answering cuts the connection instead of writing a 400 into that response's body.
// Found in review; both failed on the code before.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';

const ROUTES = [{ id: 'mtls', match: { methods: ['GET', 'POST'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } }];

describe('RFC 9112 §9.6: pipelined requests behind a response that closes the connection', () => {
  let h: Harness;
  let token: string;
  beforeAll(async () => {
    h = await startHarness({ routes: ROUTES });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
  });
  const post = (path: string, version = '1.0'): string =>
    `POST ${path} HTTP/${version}\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}`;

  it('an HTTP/1.0 client: the first answer must close (chunked upstream body), so the second POST is never forwarded', async () => {
    const before = h.upstream.received.length;
    const logsBefore = h.logLines().length;
    const { response, closed } = await h.raw(post('/mtls/pay-1') + post('/mtls/pay-2'));
    await new Promise((r) => setTimeout(r, 100));
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 200']);
    expect(closed).toBe(true);
    expect(h.upstream.received.slice(before).map((u) => u.url)).toEqual(['/mtls/pay-1']);
    expect(h.logs.join('\n')).toContain('pipelined requests not served');
    // Its own line says why it was not served, and that nothing was sent to it.
    const lines = h.logLines().slice(logsBefore).filter((l) => l.decision !== undefined);
    expect(lines.map((l) => [l.decision, l.reason, l.status])).toEqual([
      ['allow', 'OK', 200],
      ['aborted', 'NOT_SERVED_CONNECTION_CLOSED', 0],
    ]);
  });

  it('HTTP/1.1 pipelining on a connection that stays open: both answered, in order, both forwarded', async () => {
    const before = h.upstream.received.length;
    const { response } = await h.raw(post('/mtls/a', '1.1') + post('/mtls/b', '1.1').replace('Connection: keep-alive', 'Connection: close'));
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(h.upstream.received.slice(before).map((u) => u.url)).toEqual(['/mtls/a', '/mtls/b']);
  });
});

describe('RFC 9112 §9.3.2: many pipelined requests', () => {
  it('20 pipelined GETs on one connection: all answered in order, no listener pile-up on the connection', async () => {
    const h = await startHarness({ routes: ROUTES });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
      const get = (i: number, last: boolean): string =>
        `GET /mtls/p${i} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
      const before = h.upstream.received.length;
      const { response } = await h.raw(Array.from({ length: 20 }, (_, i) => get(i, i === 19)).join(''), 5000);
      expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(Array(20).fill('HTTP/1.1 200'));
      expect(h.upstream.received.slice(before).map((u) => u.url)).toEqual(Array.from({ length: 20 }, (_, i) => `/mtls/p${i}`));
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await h.close();
    }
  });
});

describe('server.limits.max_pipelined_requests: Node parses every pipelined request it reads, without a limit', () => {
  let h: Harness;
  let token: string;
  beforeAll(async () => {
    h = await startHarness({
      routes: ROUTES,
      patch: (c) => {
        (c.server as Record<string, unknown>).limits = { max_pipelined_requests: 4 };
      },
    });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
  });
  const gets = (n: number, tag: string): string =>
    Array.from({ length: n }, (_, i) => `GET /mtls/${tag}${i} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`).join('');
  const forwarded = (before: number, tag: string): string[] =>
    h.upstream.received
      .slice(before)
      .map((u) => u.url)
      .filter((u) => u.startsWith(`/mtls/${tag}`));

  it('up to the limit waiting: all answered, in order', async () => {
    const before = h.upstream.received.length;
    const last = `GET /mtls/ok4 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`;
    const { response } = await h.raw(gets(4, 'ok') + last, 3000);
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(Array(5).fill('HTTP/1.1 200'));
    expect(forwarded(before, 'ok')).toEqual(['/mtls/ok0', '/mtls/ok1', '/mtls/ok2', '/mtls/ok3', '/mtls/ok4']);
  });

  it('one more than the limit waiting: the response in progress completes, nothing waiting is forwarded, the connection closes', async () => {
    const before = h.upstream.received.length;
    const { response, closed } = await h.raw(gets(6, 'over'), 3000);
    expect(closed).toBe(true);
    expect(response.match(/^HTTP\/1\.1 \d{3}/gm)).toEqual(['HTTP/1.1 200']);
    expect(parseRawResponse(response).status).toBe(200);
    expect(forwarded(before, 'over')).toEqual(['/mtls/over0']);
    const log = h.logs.join('\n');
    expect(log).toContain('pipelining limit');
    expect(log).toContain('pipelined requests not served');
  });

  it('counted per request, not per interaction id: six requests with the same x-fapi-interaction-id still overflow a limit of 4', async () => {
    const before = h.upstream.received.length;
    const id = '0b8d3f0e-3a7c-4a59-8a77-2f4b8a1c9d10';
    const same = gets(6, 'same').replaceAll('Host: api.test\r\n', `Host: api.test\r\nx-fapi-interaction-id: ${id}\r\n`);
    const { closed } = await h.raw(same, 3000);
    expect(closed).toBe(true);
    expect(forwarded(before, 'same')).toEqual(['/mtls/same0']);
    const notServed = h.logLines().filter((l) => String(l.msg).startsWith('pipelined requests not served')).at(-1);
    expect(notServed).toMatchObject({ count: 5 });
  });

  it('a flood (more than twice the limit): the connection is closed at once and none of the flood is forwarded', async () => {
    const before = h.upstream.received.length;
    const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
    s.on('error', () => undefined); // closed with the flood unread: a reset
    await new Promise((r) => s.once('secureConnect', r));
    const closed = new Promise<boolean>((r) => {
      s.once('close', () => r(true));
      setTimeout(() => r(false), 3000);
    });
    s.write(gets(200, 'flood'));
    expect(await closed).toBe(true);
    s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    // The first request may already be on its way when the flood is seen; nothing after it is.
    expect(forwarded(before, 'flood').filter((u) => u !== '/mtls/flood0')).toEqual([]);
  });
});

describe('HDR-12: a framing error in a body the upstream is already answering', () => {
  let h: Harness;
  let token: string;
  const held: ServerResponse[] = [];
  const up = createServer((req, res) => {
    // Answers at once, before the request body has arrived, and keeps the response open.
    res.writeHead(200, { 'content-length': '10' });
    res.write('12345');
    held.push(res);
    req.resume();
  });
  beforeAll(async () => {
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const port = (up.address() as AddressInfo).port;
    h = await startHarness({ routes: ROUTES, upstream: upstreamAt(port) });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
    for (const r of held) r.destroy();
    up.closeAllConnections();
    await new Promise<void>((r) => up.close(() => r()));
  });

  it('cuts the connection: no "HTTP/1.1 400" inside the 200 body the client reads as complete', async () => {
    const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    await new Promise((r) => s.once('secureConnect', r));
    s.write(`POST /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n`);
    for (let i = 0; i < 100 && !got.includes('12345'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toContain('12345');
    s.write('zz\r\n'); // not a chunk-size line
    const closed = await new Promise<boolean>((r) => {
      s.once('close', () => r(true));
      setTimeout(() => r(false), 2000);
    });
    s.destroy();
    expect(closed).toBe(true);
    const r = parseRawResponse(got);
    expect(r.status).toBe(200);
    expect(r.body).toBe('12345'); // truncated: 5 of the 10 bytes announced, nothing else
    expect(got).not.toContain('HTTP/1.1 400');
  });
});
