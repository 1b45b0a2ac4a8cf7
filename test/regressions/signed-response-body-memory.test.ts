// Found in review (fixed; the test failed before): a signed response is collected as one Buffer per
// 'data' event until the end (`chunks.push(chunk)` in signedResponse), and only the payload bytes are
// counted against response_signing.max_body_bytes. A chunked upstream body made of tiny chunks (1 byte
// each) becomes one Buffer object per chunk: ~100+ bytes of heap per byte of body, so the limit (the
// operator's bound on what one response may hold in memory, README "read whole (up to
// response_signing.max_body_bytes)") is exceeded by two orders of magnitude. The unsigned path streams
// (pipe) and never holds them. Measured here: 400 KB of body in 1-byte chunks, buffered; the heap (after
// a full GC) grows by ~85 MB (~200 bytes per body byte).
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';
import { keyFile, mtlsToken, type SigningKeyFile, retainedHeap } from '../support/http-sig.js';
import { startHarness } from '../support/gateway.js';

const N = 400_000;
// Retained memory, not garbage: retainedHeap() runs a full GC before each reading.
const heap = retainedHeap;
let h: Harness;
let up: TestUpstream;
let key: SigningKeyFile;
let bodySent: () => void;
let finish: (() => void) | undefined;
const allSent = new Promise<void>((r) => (bodySent = r));
beforeAll(async () => {
  key = keyFile();
  up = await startRawUpstream((s: Socket) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
    s.write(Buffer.from('1\r\nx\r\n'.repeat(N)), () => bodySent());
    finish = () => s.end('0\r\n\r\n');
  });
  h = await startHarness({
    upstream: up,
    routes: [{ id: 'out', match: { methods: ['GET'], path_prefix: '/out' }, auth: { binding: 'mtls' }, sign_responses: true, upstream: { timeout_ms: 4000 } }],
    patch: (c) => {
      c.http_signatures = { response_signing: { keys: [{ key_file: key.file, kid: 'gw-1', alg: 'EdDSA' }], max_body_bytes: 1_000_000 } };
    },
  });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
  key.cleanup();
});

describe('memory held by a buffered signed response', () => {
  it('a 400 KB body in 1-byte chunks holds about its own size in memory, not tens of MB', async () => {
    const base = heap();
    const pending = h.call('/out/tiny-chunks', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`]] });
    await allSent;
    // Let the gateway parse what it was sent (it holds it until the last chunk).
    let peak = 0;
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, heap() - base);
    }
    finish?.();
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(N);
    // Fails: the heap grows by ~50+ MB for 0.4 MB of body (one Buffer object per chunk).
    expect(Math.round(peak / 1e6), 'heap growth (MB) while buffering 0.4 MB').toBeLessThan(10);
  });
});
