// Hostile clients at the HTTP layer, over raw TLS sockets (what test/regressions does not cover yet):
// slow heads and slow bodies against small timeouts, clients vanishing mid-upload and mid-download,
// invalid and unusual methods, and very many header fields under raised limits. In every case: an
// answer or a close within bounds, nothing incomplete reaches the upstream as complete, no upstream
// socket is leaked, and the gateway keeps serving.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTls } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import type { ReceivedRequest, TestUpstream } from '../support/upstream.js';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { startChildGateway, startWorld } from '../../scripts/lib/soak-world.js';

const fig = figures('hardening-http-layer');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- an upstream that counts its connections and what was aborted -------------------------------------

interface CountingUpstream extends TestUpstream {
  readonly open: () => number;
  readonly aborted: () => number;
  /** Responses the upstream started but that were closed before it finished them. */
  readonly cutResponses: () => number;
}

async function countingUpstream(): Promise<CountingUpstream> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  let aborted = 0;
  let cut = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let ended = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      if (!ended) aborted++;
    });
    res.on('close', () => {
      if (!res.writableFinished) cut++;
    });
    req.on('end', () => {
      ended = true;
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (up.handler) return up.handler(req, res, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, url: req.url, bytes: body.length }));
    });
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const up: CountingUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    behaviour: 'ok',
    delayMs: 0,
    handler: undefined,
    open: () => sockets.size,
    aborted: () => aborted,
    cutResponses: () => cut,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return up;
}

// --- raw TLS client -----------------------------------------------------------------------------------

interface RawConn {
  readonly socket: TLSSocket;
  /** Everything received so far (latin1). */
  text(): string;
  bytes(): number;
  /** Resolves with ms since `connectedAt` when the server closes (or the socket errors). */
  readonly closed: Promise<number>;
  readonly connectedAt: number;
}

function rawConnect(h: Harness, withCert = true): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const socket = connect({
      host: '127.0.0.1',
      port: h.port,
      ca: h.pki.ca.certPem,
      servername: 'localhost',
      ...(withCert && { cert: h.pki.client1.certPem, key: h.pki.client1.keyPem }),
    });
    let connectedAt = 0;
    const closed = new Promise<number>((ok) => {
      socket.once('close', () => ok(performance.now() - connectedAt));
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
    });
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => {
      connectedAt = performance.now();
      resolve({ socket, text: () => Buffer.concat(chunks).toString('latin1'), bytes: () => n, closed, connectedAt });
    });
    socket.once('error', reject);
  });
}

const statusOf = (raw: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? 0);

async function until(f: () => boolean, ms: number, step = 25): Promise<number> {
  const t0 = performance.now();
  while (!f()) {
    if (performance.now() - t0 > ms) return -1;
    await sleep(step);
  }
  return Math.round(performance.now() - t0);
}

// --- slow clients against small limits ------------------------------------------------------------------

const HEADERS_TIMEOUT = 500;
const REQUEST_TIMEOUT = 1000;
// Node checks these timeouts every connectionsCheckingInterval (1 s in api-server.ts): allow that much more.
const CHECK_INTERVAL = 1000;

let h: Harness;
let up: CountingUpstream;
let token: string;

beforeAll(async () => {
  up = await countingUpstream();
  h = await startHarness({
    upstream: up,
    patch: (c) => {
      c.server.limits = { headers_timeout_ms: HEADERS_TIMEOUT, request_timeout_ms: REQUEST_TIMEOUT, keep_alive_timeout_ms: 1000 };
    },
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

async function stillServing(): Promise<void> {
  const before = up.received.length;
  const r = await h.call('/mtls/still-serving', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
  expect(r.status).toBe(200);
  expect(up.received.length).toBe(before + 1);
}

/** The upstream's open connections fall back to at most `baseline` (idle keep-alive sockets may remain). */
async function upstreamSocketsSettle(baseline: number): Promise<number> {
  const ms = await until(() => up.open() <= baseline, 3000);
  expect(ms, `upstream connections: ${up.open()} open, baseline ${baseline}`).toBeGreaterThanOrEqual(0);
  return ms;
}

describe('slow clients (headers_timeout_ms 500, request_timeout_ms 1000)', () => {
  it('slowloris head: a request head sent one byte every 50 ms -> 408 or close within the timeout plus one check interval, nothing forwarded', async () => {
    const before = up.received.length;
    const c = await rawConnect(h);
    const head = `GET /mtls/slow-head HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nX-Padding: ${'p'.repeat(200)}\r\n\r\n`;
    let sent = 0;
    let open = true;
    void c.closed.then(() => (open = false));
    for (; sent < head.length && open && performance.now() - c.connectedAt < 5000; sent++) {
      c.socket.write(head[sent] as string);
      await sleep(50);
    }
    const closedAfter = await Promise.race([c.closed, sleep(6000).then(() => -1)]);
    const raw = c.text();
    c.socket.destroy();
    fig.list('slow-clients', { case: 'slow head (1 byte / 50 ms)', status: statusOf(raw), closedAfterMs: Math.round(closedAfter), bytesSentOfHead: `${sent}/${head.length}` });
    console.log(`slow head: ${statusOf(raw) || 'no answer'} and closed after ${Math.round(closedAfter)} ms, ${sent} of ${head.length} head bytes sent`);
    expect(closedAfter).toBeGreaterThan(0);
    expect(closedAfter).toBeLessThan(HEADERS_TIMEOUT + CHECK_INTERVAL + 1000);
    expect(sent).toBeLessThan(head.length);
    if (raw !== '') {
      expect(statusOf(raw)).toBe(408);
      expect(raw).toContain('"error":"invalid_request"');
      expect(raw).toMatch(/\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/i);
    }
    expect(up.received.length).toBe(before);
    await stillServing();
  });

  it('slow body: an authorised POST whose body trickles in -> 408 or close; the upstream never sees the request complete; no upstream socket leaked', async () => {
    await stillServing();
    const baselineOpen = up.open();
    const completeBefore = up.received.length;
    const abortedBefore = up.aborted();
    const c = await rawConnect(h);
    const length = 2000;
    c.socket.write(`POST /mtls/slow-body HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`);
    let sent = 0;
    let open = true;
    void c.closed.then(() => (open = false));
    while (sent < length && open && performance.now() - c.connectedAt < 5000) {
      c.socket.write('b'.repeat(10));
      sent += 10;
      await sleep(200);
    }
    const closedAfter = await Promise.race([c.closed, sleep(6000).then(() => -1)]);
    const raw = c.text();
    c.socket.destroy();
    const settleMs = await upstreamSocketsSettle(baselineOpen);
    fig.list('slow-clients', {
      case: 'slow body (10 B / 200 ms, Content-Length 2000)',
      status: statusOf(raw),
      closedAfterMs: Math.round(closedAfter),
      bodyBytesSent: sent,
      upstreamComplete: up.received.length - completeBefore,
      upstreamAborted: up.aborted() - abortedBefore,
      upstreamSocketsSettledMs: settleMs,
    });
    console.log(`slow body: ${statusOf(raw) || 'no answer'}, closed after ${Math.round(closedAfter)} ms with ${sent}/${length} body bytes; upstream aborted ${up.aborted() - abortedBefore}, complete ${up.received.length - completeBefore}`);
    expect(closedAfter).toBeGreaterThan(0);
    expect(closedAfter).toBeLessThan(REQUEST_TIMEOUT + CHECK_INTERVAL + 1000);
    expect(sent).toBeLessThan(length);
    if (raw !== '') expect(statusOf(raw)).toBe(408);
    // The partial body never reached the upstream as a complete request.
    expect(up.received.filter((r) => r.url.includes('slow-body'))).toEqual([]);
    await stillServing();
  });
});

describe('clients that vanish', () => {
  it('mid-upload: half of a 200 kB Content-Length body, then the client destroys the socket -> upstream request aborted, not completed; no socket leaked; still serving', async () => {
    await stillServing();
    const baselineOpen = up.open();
    const abortedBefore = up.aborted();
    const c = await rawConnect(h);
    const length = 200_000;
    c.socket.write(`POST /mtls/upload HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`);
    c.socket.write(Buffer.alloc(length / 2, 0x61));
    // Give the gateway time to authorise and start streaming the body upstream.
    await until(() => up.open() > baselineOpen || up.aborted() > abortedBefore, 1000);
    await sleep(100);
    c.socket.destroy();
    const abortedMs = await until(() => up.aborted() > abortedBefore, 3000);
    const settleMs = await upstreamSocketsSettle(baselineOpen);
    fig.list('vanishing-clients', { case: 'client destroys mid-upload (100 of 200 kB)', upstreamAbortedAfterMs: abortedMs, upstreamSocketsSettledMs: settleMs });
    console.log(`mid-upload abort: upstream request aborted after ${abortedMs} ms, upstream sockets back to baseline after ${settleMs} ms`);
    expect(up.received.filter((r) => r.url.includes('upload'))).toEqual([]);
    expect(abortedMs).toBeGreaterThanOrEqual(0);
    await stillServing();
    // The aborted request is logged once, and not as an internal error.
    expect(h.logLines().filter((l) => l.reason === 'GW_INTERNAL' || l.level === 'error')).toEqual([]);
  });

  it('mid-download: the upstream streams 20 MB slowly, the client reads 256 kB and destroys -> the upstream response is cut, no socket leaked, still serving', async () => {
    await stillServing();
    const baselineOpen = up.open();
    const cutBefore = up.cutResponses();
    const CHUNK = 64 * 1024;
    const TOTAL = 20 * 1024 * 1024;
    let written = 0;
    let stopped = false;
    up.handler = (req, res) => {
      if (!req.url?.includes('big')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
      const timer = setInterval(() => {
        if (res.destroyed || written >= TOTAL) {
          clearInterval(timer);
          stopped = true;
          if (!res.destroyed) res.end();
          return;
        }
        res.write(Buffer.alloc(CHUNK, 0x62));
        written += CHUNK;
      }, 5);
      res.on('close', () => {
        clearInterval(timer);
        stopped = true;
      });
    };
    try {
      const c = await rawConnect(h);
      c.socket.write(`GET /mtls/big HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      expect(await until(() => c.bytes() > 256 * 1024, 5000)).toBeGreaterThanOrEqual(0);
      expect(statusOf(c.text())).toBe(200);
      c.socket.destroy();
      const cutMs = await until(() => up.cutResponses() > cutBefore && stopped, 3000);
      const settleMs = await upstreamSocketsSettle(baselineOpen);
      fig.list('vanishing-clients', { case: 'client destroys mid-download (256 kB of 20 MB)', upstreamCutAfterMs: cutMs, upstreamBytesWritten: written, upstreamSocketsSettledMs: settleMs });
      console.log(`mid-download abort: upstream response cut after ${cutMs} ms having written ${(written / 1024 / 1024).toFixed(1)} of 20 MB; sockets back after ${settleMs} ms`);
      expect(cutMs).toBeGreaterThanOrEqual(0);
      expect(written).toBeLessThan(TOTAL);
    } finally {
      up.handler = undefined;
    }
    await stillServing();
    expect(h.logLines().filter((l) => l.reason === 'GW_INTERNAL' || l.level === 'error')).toEqual([]);
  });
});

describe('invalid and unusual methods', () => {
  // Sent with a valid token and certificate: only the method is wrong.
  const cases: [string, string][] = [
    ['GE T', 'GE T /accounts/1 HTTP/1.1'],
    ['FOO', 'FOO /accounts/1 HTTP/1.1'],
    ['lower-case get', 'get /accounts/1 HTTP/1.1'],
    ['mixed-case Get', 'Get /accounts/1 HTTP/1.1'],
    ['NUL in the method', 'G\x00ET /accounts/1 HTTP/1.1'],
    ['tab after the method', 'GET\t/accounts/1 HTTP/1.1'],
    ['no method', ' /accounts/1 HTTP/1.1'],
    ['TRACE (valid, no route)', 'TRACE /accounts/1 HTTP/1.1'],
    ['PROPFIND (WebDAV)', 'PROPFIND /accounts/1 HTTP/1.1'],
    ['SEARCH', 'SEARCH /accounts/1 HTTP/1.1'],
    ['QUERY', 'QUERY /accounts/1 HTTP/1.1'],
    ['PURGE', 'PURGE /accounts/1 HTTP/1.1'],
    ['DELETE on a GET-only route', 'DELETE /accounts/1 HTTP/1.1'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0'],
    ['GE T over HTTP/1.0', 'GE T /accounts/1 HTTP/1.0'],
    ['HTTP/1.2', 'GET /accounts/1 HTTP/1.2'],
  ];
  for (const [name, line] of cases) {
    it(`${name} -> 400 or 404, never forwarded`, async () => {
      const before = up.received.length;
      const { response, closed } = await h.raw(`${line}\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, 3000);
      await sleep(30);
      const status = statusOf(response);
      fig.list('methods', { case: name, status, closed });
      expect([400, 404], `${JSON.stringify(line)} -> ${JSON.stringify(response.slice(0, 80))}`).toContain(status);
      expect(response).toMatch(/\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/i);
      expect(up.received.length).toBe(before);
    });
  }
  // Node's parser reads a request line without HTTP-version as HTTP/0.9 yet still parses header fields;
  // the gateway accepts HTTP/1.x only and refuses it with 400, token or not.
  it('a request line without HTTP-version ("GET /accounts/1") -> 400, never forwarded, even with a valid token', async () => {
    const before = up.received.length;
    const send = (auth: string) => h.raw(`GET /accounts/1\r\nHost: api.test\r\n${auth}Connection: close\r\n\r\n`, 3000);
    const without = statusOf((await send('')).response);
    const withToken = statusOf((await send(`Authorization: Bearer ${token}\r\n`)).response);
    await sleep(30);
    fig.list('methods', { case: 'no HTTP-version (HTTP/0.9 style), no token', status: without, closed: true });
    fig.list('methods', { case: 'no HTTP-version (HTTP/0.9 style), valid token', status: withToken, closed: true });
    expect(without).toBe(400);
    expect(withToken).toBe(400);
    expect(up.received.length).toBe(before);
  });
  it('after all of them the gateway still serves', async () => {
    await stillServing();
  });
});

// --- a refused HEAD request ------------------------------------------------------------------------------

describe('HEAD', () => {
  // Regression, fixed (found by the end-to-end property): the API server is created with rejectNonStandardBodyWrites:
  // true, and renderError() always ends the response with the JSON body. For a HEAD request Node throws
  // ERR_HTTP_BODY_NOT_ALLOWED from res.end(body) inside the .catch() of Gateway.handle, so the rejection is
  // unhandled and, under Node's default (--unhandled-rejections=throw), the gateway process exits. One
  // unauthenticated `HEAD / HTTP/1.1` (any HEAD the gateway refuses: 404, 401, 400...) stops the whole
  // gateway. Reproduction: `printf 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n' | openssl s_client -quiet -connect
  // <gw>` -> the process exits with status 1 ("Error [ERR_HTTP_BODY_NOT_ALLOWED]" from render.ts:24).
  // Fix: in renderError, `res.end(req.method === 'HEAD' ? undefined : body)` (keep Content-Length), and
  // guard the catch handler in gateway.ts so a rendering failure destroys the socket instead of escaping.
  it('regression: a refused HEAD request -> 404 with no body, and the gateway process keeps running', async () => {
    const world = await startWorld();
    const gw = await startChildGateway(world, { exposeGc: false, log: false });
    try {
      const { response } = await rawTls('127.0.0.1', gw.port, {
        ca: world.pki.ca.certPem,
        servername: 'localhost',
        payload: 'HEAD / HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n',
        timeoutMs: 2000,
      });
      await sleep(300);
      fig.list('head', { case: 'HEAD / (no route) against a child gateway', status: statusOf(response), processAlive: gw.alive(), exit: gw.exit ?? null, stderr: gw.stderr.split('\n').find((l) => l.includes('ERR_')) ?? '' });
      console.log(`HEAD / -> ${statusOf(response) || 'no answer'}; gateway process alive: ${gw.alive()} ${gw.alive() ? '' : JSON.stringify(gw.exit)}`);
      expect(gw.alive()).toBe(true);
      expect(statusOf(response)).toBe(404);
    } finally {
      await gw.close();
      await world.close();
    }
  }, 30_000);
});

// --- very many header fields ---------------------------------------------------------------------------

describe('very many header fields (max_headers 1000, max_header_bytes 65536)', () => {
  let g: Harness;
  let t: string;
  beforeAll(async () => {
    g = await startHarness({ patch: (c) => (c.server.limits = { max_headers: 1000, max_header_bytes: 65536 }) });
    t = await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await g?.close();
  });
  const send = async (fields: string[], path = '/mtls/many') => {
    const t0 = performance.now();
    const { response } = await g.raw(`GET ${path} HTTP/1.1\r\nHost: api.test\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`, 5000);
    const ms = Math.round(performance.now() - t0);
    return { status: statusOf(response), response, ms };
  };
  const auth = (): string => `Authorization: Bearer ${t}`;
  const record = (name: string, fields: number, r: { status: number; ms: number }) => {
    fig.list('many-headers', { case: name, fields, status: r.status, ms: r.ms });
    expect(r.ms).toBeLessThan(2000);
  };

  it('960 small fields + Authorization (963 with Host and Connection) -> 200, all forwarded', async () => {
    const before = g.upstream.received.length;
    // Not 999: the test upstream is a plain Node server, which itself answers 431 at about 1000 fields,
    // and the gateway adds its identity and forwarding headers.
    const r = await send([auth(), ...Array.from({ length: 960 }, (_, i) => `x${i}: 1`)]);
    record('963 fields', 963, r);
    expect(r.status).toBe(200);
    const u = g.upstream.received.slice(before);
    expect(u).toHaveLength(1);
    expect(u[0]?.headers.x959).toBe('1');
  });
  it('1001 fields -> 431, never forwarded', async () => {
    const before = g.upstream.received.length;
    const r = await send([auth(), ...Array.from({ length: 998 }, (_, i) => `X-F${i}: ${i}`)]);
    record('1001 fields', 1001, r);
    expect(r.status).toBe(431);
    expect(g.upstream.received.length).toBe(before);
  });
  it('2000 minimal "a:" fields (under the byte limit) -> 431, never forwarded', async () => {
    const before = g.upstream.received.length;
    const r = await send([auth(), ...Array.from({ length: 2000 }, () => 'a:')]);
    record('2000 minimal fields', 2002, r);
    expect(r.status).toBe(431);
    expect(g.upstream.received.length).toBe(before);
  });
  it('900 spoofed X-Authenticated-Subject fields -> 200, the upstream sees only the token\'s subject', async () => {
    const before = g.upstream.received.length;
    const r = await send([auth(), ...Array.from({ length: 900 }, (_, i) => `X-Authenticated-Subject: victim-${i}`)]);
    record('900 spoofed identity fields', 902, r);
    expect(r.status).toBe(200);
    const u = g.upstream.received.slice(before)[0];
    expect(u?.headers['x-authenticated-subject']).toBe('user-1');
    expect(u?.rawHeaders.filter((x) => /victim/.test(x))).toEqual([]);
  });
  it('900 DPoP fields with a Bearer token -> 400, never forwarded', async () => {
    const before = g.upstream.received.length;
    const r = await send([auth(), ...Array.from({ length: 900 }, () => 'DPoP: e30.e30.AA')]);
    record('900 DPoP fields', 902, r);
    expect(r.status).toBe(400);
    expect(g.upstream.received.length).toBe(before);
  });
  it('900 x-fapi-interaction-id fields -> replaced by one fresh UUID, 200', async () => {
    const r = await send([auth(), ...Array.from({ length: 900 }, () => `x-fapi-interaction-id: ${crypto.randomUUID()}`)]);
    record('900 interaction-id fields', 902, r);
    expect(r.status).toBe(200);
    expect(r.response.match(/\r\nx-fapi-interaction-id: [^\r]*/gi)).toHaveLength(1);
  });
  it('Connection naming 900 fields that are also sent -> 200, none of them forwarded', async () => {
    const before = g.upstream.received.length;
    const names = Array.from({ length: 900 }, (_, i) => `x-hop-${i}`);
    const r = await send([auth(), `Connection: ${names.join(', ')}`, ...names.map((n) => `${n}: 1`)]);
    record('Connection listing 900 fields', 903, r);
    expect(r.status).toBe(200);
    const u = g.upstream.received.slice(before)[0];
    expect(Object.keys(u?.headers ?? {}).filter((k) => k.startsWith('x-hop-'))).toEqual([]);
  });
  it('after all of them the gateway still serves', async () => {
    const r = await send([auth()]);
    expect(r.status).toBe(200);
  });
});
