// Regression (review of 642ad20, failed before the fix): server.limits.max_body_bytes when the upstream answered (completely) before the body passed
// the limit. README/commit: "past the limit the upstream request is cut and the client gets 413 (or, if
// the upstream already answered, a cut connection)". Here the connection is not cut: the rest of the
// over-limit body is read and the next request on the same connection is served (and forwarded).
import { randomUUID } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';

const LIMIT = 1024;
let h: Harness;
let early: TestUpstream;
beforeAll(async () => {
  // An upstream that answers as soon as the request head arrives (e.g. an accepted-then-processed upload).
  early = await startRawUpstream((s) => {
    s.on('data', () => undefined);
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  });
  h = await startHarness({
    patch: (c) => {
      c.server.limits = { max_body_bytes: LIMIT };
      c.routes.push({ id: 'early', match: { methods: ['POST'], path: '/early' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: early.url } });
    },
  });
});
afterAll(async () => {
  await h?.close();
  await early?.close();
});

const token = () => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
/** A raw TLS connection with the client certificate: what arrived so far, and whether it closed. */
async function session(): Promise<{ s: TLSSocket; text: () => string; closed: () => boolean }> {
  const chunks: Buffer[] = [];
  let closed = false;
  const s = connect({ host: '127.0.0.1', port: h.port, ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem });
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('close', () => (closed = true));
  s.on('error', () => undefined);
  await new Promise((r) => s.once('secureConnect', r));
  return { s, text: () => Buffer.concat(chunks).toString('latin1'), closed: () => closed };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chunk = (n: number) => `${n.toString(16)}\r\n${'b'.repeat(n)}\r\n`;

describe('body limit after an early upstream answer', () => {
  it('a chunked body passing max_body_bytes after the upstream answered cuts the connection; the next request on it is not served', async () => {
    const { s, text, closed } = await session();
    try {
      const first = randomUUID();
      s.write(`POST /early HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token()}\r\nx-fapi-interaction-id: ${first}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(10)}`);
      for (let i = 0; i < 50 && !/\r\n\r\n\{\}/.test(text()); i++) await sleep(20);
      expect(text()).toMatch(/^HTTP\/1\.1 200 /); // the upstream's early answer reached the client
      // The body goes on, 4x past the limit, then the next request on the same connection.
      let body = '';
      for (let i = 0; i < 16; i++) body += chunk(256);
      const next = randomUUID();
      s.write(`${body}0\r\n\r\nGET /mtls/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token()}\r\nx-fapi-interaction-id: ${next}\r\n\r\n`);
      await sleep(1500);
      // Expected: the connection is cut once the body passes the limit; nothing more is answered on it.
      expect(text()).not.toContain(next);
      expect(h.upstream.received.some((r) => r.headers['x-fapi-interaction-id'] === next)).toBe(false);
      expect(closed()).toBe(true);
      // The early answer itself says Connection: close (the rest of the body is never read: the client's
      // next request could not be told from it), so the connection ends before the body passes the limit.
      expect(text()).toMatch(/^HTTP\/1\.1 200 [^]*?\r\nconnection: close\r\n/i);
      expect(h.logLines().find((l) => l.interaction_id === first)).toMatchObject({ route: 'early', decision: 'allow' });
    } finally {
      s.destroy();
    }
  });

  it('a chunked body far past max_body_bytes after the upstream answered does not hold the connection open', async () => {
    const { s, text, closed } = await session();
    try {
      s.write(`POST /early HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token()}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(10)}`);
      for (let i = 0; i < 50 && !/\r\n\r\n\{\}/.test(text()); i++) await sleep(20);
      expect(text()).toMatch(/^HTTP\/1\.1 200 /);
      // 256 KiB more, 256x the limit, never finished.
      for (let i = 0; i < 64; i++) s.write(chunk(4096));
      await sleep(2000);
      // Expected: cut once past the limit. Observed: open (until request_timeout_ms, 30 s by default).
      expect(closed()).toBe(true);
    } finally {
      s.destroy();
    }
  });
});
