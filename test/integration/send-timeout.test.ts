// server.limits.send_timeout_ms (nginx's send_timeout): a client that stops reading a response is cut
// once nothing it was sent moves for that long. Before it, a client that requested a large download and
// never read held its connection, the upstream connection and the buffered body for ever (the upstream
// timer waits for the client's drain, see slow-client-download): enough such clients exhausted the
// upstream pool. Waiting on the upstream or on an idle keep-alive connection is not "not reading".
import type { ServerResponse } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logsFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

const SIZE = 32 * 1024 * 1024;
let h: Harness;
let token: string;
let upstreamClosedEarly = 0;

beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.limits = { send_timeout_ms: 1200, headers_timeout_ms: 200, keep_alive_timeout_ms: 600 };
      c.routes.forEach((r: { upstream: { timeout_ms: number } }) => (r.upstream.timeout_ms = 5000));
    },
  });
  h.upstream.handler = (req, res) => {
    if (req.url === '/mtls/big') return bigBody(res);
    if (req.url === '/mtls/slow-head') return void setTimeout(() => res.end('late but fine'), 2500);
    // Head at once, then nothing for 2.5 s (the upstream thinking, not the client refusing to read).
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part;');
    setTimeout(() => res.end('second part'), 2500);
  };
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

function bigBody(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
  res.once('close', () => void (res.writableFinished || upstreamClosedEarly++));
  res.end(Buffer.alloc(SIZE, 97));
}

async function open(): Promise<TLSSocket> {
  const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
  socket.on('error', () => undefined);
  await new Promise<void>((ok, ko) => socket.once('secureConnect', ok).once('error', ko));
  return socket;
}
const request = (path: string, id: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\n\r\n`;
const closedWithin = (socket: TLSSocket, ms: number): Promise<boolean> =>
  new Promise((ok) => {
    if (socket.destroyed) return ok(true);
    const t = setTimeout(() => ok(false), ms);
    socket.once('close', () => (clearTimeout(t), ok(true)));
  });

describe('server.limits.send_timeout_ms', () => {
  it('cuts a client that never reads a large response, releases the upstream, and logs why', async () => {
    const id = '3f0c2a1e-8b7d-4c6e-9f5a-1d2e3c4b5a60';
    const socket = await open();
    socket.pause();
    const started = Date.now();
    socket.write(request('/mtls/big', id));
    let received = 0;
    try {
      const [line] = await logsFor(h, id, 6000);
      // Not before the client had a second to read.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
      expect(line).toMatchObject({ reason: 'CLIENT_SEND_TIMEOUT', decision: 'allow', status: 200, level: 'warn' });
      expect(line?.detail).toMatch(/send_timeout_ms 1200/);
      // The client, reading at last, finds a cut response (what the kernels held), then the close.
      socket.on('data', (d: Buffer) => (received += d.length));
      socket.resume();
      expect(await closedWithin(socket, 5000)).toBe(true);
      expect(received).toBeLessThan(SIZE);
    } finally {
      socket.destroy();
    }
    await expect.poll(() => upstreamClosedEarly, { timeout: 2000 }).toBe(1);
  }, 15000);

  it('does not cut a client waiting on a slow upstream, before or after the response head', async () => {
    for (const path of ['/mtls/slow-head', '/mtls/slow-body']) {
      const res = await h.call(path, { cert: h.pki.client1, headers: [['authorization', `Bearer ${token}`]] });
      expect(res.status).toBe(200);
      expect(res.body).toMatch(path === '/mtls/slow-head' ? 'late but fine' : 'first part;second part');
    }
  }, 15000);

  it('leaves idle keep-alive connections to keep_alive_timeout_ms', async () => {
    const socket = await open();
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.write(request('/mtls/slow-body', '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'));
    try {
      await expect.poll(() => reply.includes('second part'), { timeout: 5000 }).toBe(true);
      const idleFrom = Date.now();
      expect(await closedWithin(socket, 3000)).toBe(true);
      // keep_alive_timeout_ms 600 (Node adds 1 s), not send_timeout_ms nor never.
      expect(Date.now() - idleFrom).toBeLessThan(2500);
    } finally {
      socket.destroy();
    }
  }, 15000);
});
