// Found in review (fixed; the test failed before): Response side, pooled upstream connections (review-smuggle). A legacy upstream that writes a body after
// a HEAD answer or a 204 (README "A broken upstream costs the client no more than a 502 or a cut
// connection": "bytes after a complete 204, 304 or HEAD answer drop only the upstream connection") does
// so in a second write, as servers that send the head and then stream the content do. The gateway
// finished the first exchange at the head and put the connection back in its pool; the next request,
// another user's on another TLS connection, is sent on it, and the stray bytes are read as that
// request's response. Whoever controls the content of the HEAD/204 resource chooses another user's answer.
//
// The upstream is a raw TCP server that serves one request at a time per connection, in order (as a
// sequential legacy server does): the stray bytes are always on the wire before its next answer. They
// are written at the latest STRAY_AFTER_MS after the head, or as soon as the next request arrives on
// that connection: what the gateway sees when they were still in flight as it sent that request.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';
import { startRecorder, type Conn, type Recorder } from '../support/recorder.js';

/** What the HEAD/204 resource holds: content the attacker chose (an uploaded document, a note...). */
const INJECTED = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{"attacker":"chosen"}';
/** The stray body follows its head after this long (a second write); the victim asks well before. */
const STRAY_AFTER_MS = 1500;

let h: Harness;
let rec: Recorder;
let alice: string;
let bob: string;

beforeAll(async () => {
  rec = await startRecorder();
  const chains = new WeakMap<Conn, Promise<void>>();
  const nextArrived = new WeakMap<Conn, () => void>();
  rec.reply = ({ head, conn }) => {
    nextArrived.get(conn)?.();
    // One request at a time per connection, answered in order.
    const prev = chains.get(conn) ?? Promise.resolve();
    chains.set(
      conn,
      prev.then(async () => {
        const [method, path] = head.split(' ') as [string, string];
        if (method === 'HEAD' || path.startsWith('/mtls/no-content')) {
          const status = method === 'HEAD' ? '200 OK' : '204 No Content';
          const length = method === 'HEAD' ? `Content-Length: ${INJECTED.length}\r\n` : '';
          conn.socket.write(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\n${length}\r\n`);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, STRAY_AFTER_MS);
            nextArrived.set(conn, () => {
              clearTimeout(t);
              nextArrived.delete(conn);
              resolve();
            });
          });
          if (!conn.socket.destroyed) conn.socket.write(INJECTED);
          return;
        }
        const sub = /\r\nx-authenticated-subject: (\S+)/i.exec(head)?.[1];
        const body = JSON.stringify({ for: path, sub });
        if (!conn.socket.destroyed) conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }),
    );
    return undefined;
  };
  h = await startHarness({
    upstream: upstreamAt(rec.port),
    routes: [{ id: 'mtls', match: { methods: ['GET', 'HEAD', 'DELETE'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } }],
  });
  alice = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'alice' });
  bob = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'bob' });
  // Both tokens validated once (cached), and one pooled upstream connection.
  for (const t of [alice, bob]) await h.raw(`GET /mtls/warm HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`, 1500);
});
afterAll(async () => {
  await h?.close();
  await rec?.close();
});

const get = (path: string, token: string, method = 'GET'): string =>
  `${method} ${path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`;

/** Alice's bodiless exchange, then Bob's GET on his own connection while her stray body is still on its way. */
async function aliceThenBob(aliceRequest: string): Promise<{ alice: string; bob: string }> {
  // Alice has her whole answer (the head) before Bob asks.
  const a = await h.raw(aliceRequest, 3000);
  const b = await h.raw(get('/mtls/statement', bob), 3000);
  // Let stray bytes that found no request land before the next test.
  await sleep(STRAY_AFTER_MS + 100);
  return { alice: a.response, bob: b.response };
}

describe('HDR / README "bytes after a complete 204, 304 or HEAD answer drop only the upstream connection"', () => {
  // Was (fixed): src/forward/proxy-forwarder.ts (proxyRes handler) lets Node's agent pool the upstream connection
  // as soon as a response that has no body by definition (HEAD, 204, 304) is complete; body bytes a
  // broken upstream sends after it become the next request's response, whoever sent that request.
  it('a HEAD answered with a body in a second write: Bob\'s next GET gets his own answer, not the HEAD body', async () => {
    const x = await aliceThenBob(get('/mtls/doc', alice, 'HEAD'));
    expect(parseRawResponse(x.alice).status).toBe(200);
    const r = parseRawResponse(x.bob);
    expect(r.body).not.toContain('attacker');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ for: '/mtls/statement', sub: 'bob' });
  });

  it('a 204 followed by a body in a second write: Bob\'s next GET gets his own answer', async () => {
    const x = await aliceThenBob(get('/mtls/no-content', alice, 'DELETE'));
    expect(parseRawResponse(x.alice).status).toBe(204);
    const r = parseRawResponse(x.bob);
    expect(r.body).not.toContain('attacker');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ for: '/mtls/statement', sub: 'bob' });
  });
});

describe('pin: stray bytes on an idle pooled upstream connection', () => {
  it('a second response sent on a pooled connection nobody is using is dropped with the connection; the next request gets its own answer', async () => {
    // Nobody asks during the stray window: the connection is idle in the pool when the bytes come.
    const a = await h.raw(get('/mtls/doc', alice, 'HEAD'), 3000);
    expect(parseRawResponse(a.response).status).toBe(200);
    await sleep(STRAY_AFTER_MS + 150);
    const conns = rec.conns.length;
    const b = parseRawResponse((await h.raw(get('/mtls/after-idle', bob), 3000)).response);
    expect(b.status).toBe(200);
    expect(JSON.parse(b.body)).toEqual({ for: '/mtls/after-idle', sub: 'bob' });
    // Sent on a new upstream connection: the one that had the stray bytes was dropped.
    expect(rec.conns.length).toBe(conns + 1);
  });
});
