// server.limits.max_body_bytes / upstream.max_body_bytes over real TLS: a body over the limit never
// reaches the upstream whole. A Content-Length over it is refused before the credentials are looked at
// (413, connection closed, nothing forwarded); a chunked body is counted as it streams, and the
// upstream request is cut the moment it passes the limit.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { expectErrorContract } from '../support/contract.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { oneRouteConfig } from '../support/config.js';

const LIMIT = 1024;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.server.limits = { max_body_bytes: LIMIT };
      c.routes.push({ id: 'big', match: { methods: ['POST'], path: '/big' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: c.routes[0].upstream.url, max_body_bytes: 8192 } });
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const token = () => h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
const post = async (path: string, body: Buffer, iid = randomUUID(), auth = true) =>
  h.call(path, {
    method: 'POST',
    cert: h.pki.client1,
    body,
    headers: [['x-fapi-interaction-id', iid], ['Content-Type', 'application/octet-stream'], ...(auth ? [['Authorization', `Bearer ${await token()}`] as [string, string]] : [])],
  });
/** A chunked POST in 256-byte chunks over raw TLS (Node's client would add a Content-Length). */
const chunked = async (path: string, size: number, iid: string, waitMs = 3000) => {
  let body = '';
  for (let left = size; left > 0; left -= 256) body += `${Math.min(256, left).toString(16)}\r\n${'b'.repeat(Math.min(256, left))}\r\n`;
  const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token()}\r\nx-fapi-interaction-id: ${iid}\r\nTransfer-Encoding: chunked\r\n\r\n`;
  return h.raw(`${head}${body}0\r\n\r\n`, waitMs);
};

describe('request body limit', () => {
  it('a Content-Length over max_body_bytes -> 413 before any credential check, connection closed, never forwarded', async () => {
    const before = h.upstream.received.length;
    for (const auth of [false, true]) {
      const iid = randomUUID();
      const r = await post('/mtls/1', Buffer.alloc(LIMIT + 1, 'a'), iid, auth);
      expectErrorContract(r, 413, 'invalid_request');
      expect(r.headers.connection).toBe('close');
      expect(r.headers['www-authenticate']).toBeUndefined();
      const line = await logFor(h, iid);
      expect(line).toMatchObject({ route: 'mtls-only', reason: 'GW_BODY_TOO_LARGE', status: 413 });
      expect(String(line?.detail)).toBe(`Content-Length ${LIMIT + 1} over max_body_bytes ${LIMIT}`);
    }
    expect(h.upstream.received.length).toBe(before);
  });

  it('a body of exactly max_body_bytes is forwarded intact; a route may allow more (upstream.max_body_bytes)', async () => {
    const body = Buffer.alloc(LIMIT, 'c');
    expect((await post('/mtls/1', body)).status).toBe(200);
    expect(h.upstream.received.at(-1)?.body.equals(body)).toBe(true);
    const big = Buffer.alloc(8192, 'd');
    expect((await post('/big', big)).status).toBe(200);
    expect(h.upstream.received.at(-1)?.body.equals(big)).toBe(true);
    expectErrorContract(await post('/big', Buffer.alloc(8193)), 413, 'invalid_request');
  });

  it('a chunked body passing max_body_bytes -> 413, the upstream request is cut and never completes', async () => {
    const before = h.upstream.received.length;
    const iid = randomUUID();
    const r = await chunked('/mtls/1', 4 * LIMIT, iid);
    expect(r.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.response).toMatch(/\r\nconnection: close\r\n/i);
    expect(r.closed).toBe(true);
    const line = await logFor(h, iid);
    expect(line).toMatchObject({ reason: 'GW_BODY_TOO_LARGE', status: 413 });
    expect(String(line?.detail)).toMatch(/^streamed body over max_body_bytes 1024 \(\d+ bytes so far\)$/);
    // The test upstream records a request when its body ends: a cut one is never recorded.
    await new Promise((r) => setTimeout(r, 200));
    expect(h.upstream.received.length).toBe(before);
  });

  it('a chunked body within max_body_bytes is forwarded whole', async () => {
    const iid = randomUUID();
    // Kept alive after the answer: read for a moment.
    const r = await chunked('/mtls/1', LIMIT, iid, 700);
    expect(r.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(h.upstream.received.at(-1)?.body.toString()).toBe('b'.repeat(LIMIT));
  });
});

describe('body limit config', () => {
  const yaml = (limits: string, upstream?: string): string => oneRouteConfig({ methods: 'POST', server: `limits: ${limits}`, upstream });
  it('negative, fractional or absurd limits are refused at load with their path', () => {
    expect(() => parseConfig(yaml('{ max_body_bytes: -1 }'), 'b.yaml', {})).toThrow(/max_body_bytes/);
    expect(() => parseConfig(yaml('{ max_body_bytes: 1.5 }'), 'b.yaml', {})).toThrow(/max_body_bytes/);
    expect(() => parseConfig(yaml('{}', 'max_body_bytes: 2000000000000'), 'b.yaml', {})).toThrow(/max_body_bytes/);
    expect(() => parseConfig(yaml('{ max_body_bytes: 0 }', 'max_body_bytes: 1048576'), 'b.yaml', {})).not.toThrow();
  });
});
