// Found in review (fixed; the test failed before): README (http_signatures.max_buffered_bytes): what signed request bodies and signed responses "may hold
// in memory at once, together". Bug: a signed response's buffer is given back to the budget when the
// response closes (src/forward/proxy-forwarder.ts:349 res.once('close', () => buffer.release())), but the
// Buffer stays reachable while the client's keep-alive connection is idle: the 'data' listener `collect`
// (proxy-forwarder.ts:365, never removed after 'end') closes over it, the upstream response is reachable
// from the client request (req[kUpstreamReq].res), and Gateway.reading (src/gateway.ts:233, set at :285)
// keeps the connection's latest request until its next request or its close. N idle connections hold N
// response bodies (heap snapshot path: TLSSocket -> reading entry -> req -> kUpstreamReq -> res -> _events.data ->
// collect -> BodyBuffer.bytes) (up to response_signing.max_body_bytes each) that the budget no longer counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Harness } from '../support/gateway.js';
import { keyFile, mtlsToken, openTls, retainedBuffers, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

const BODY = 2_000_000;
const CONNS = 10;

let h: Harness;
let key: SigningKeyFile;
beforeAll(async () => {
  key = keyFile();
  h = await signingHarness([{ id: 'big', match: { methods: ['GET'], path_prefix: '/big' }, auth: { binding: 'mtls' } }], key, {
    patch: (c) => {
      c.server.limits = { ...c.server.limits, keep_alive_timeout_ms: 60000 };
      c.http_signatures.max_body_bytes = BODY;
      c.http_signatures.response_signing.max_body_bytes = BODY;
      c.http_signatures.max_buffered_bytes = 8 * 1_048_576;
    },
  });
  // A fresh Buffer per answer, so only what the gateway keeps is retained.
  h.upstream.handler = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY) }).end(Buffer.alloc(BODY, 'r'));
  };
});
afterAll(async () => {
  await h?.close();
  key?.cleanup();
});

describe('signed responses after they are sent', () => {
  it('idle keep-alive connections do not keep their last signed response body alive once its budget share is given back', async () => {
    const budget = (h.gw.gateway as any).pipeline.settings.buffers;
    const base = (await retainedBuffers());
    const conns = [];
    for (let i = 0; i < CONNS; i++) {
      const c = await openTls(h);
      // The helper's own collector would keep every answer (this test's memory, not the gateway's).
      c.socket.removeAllListeners('data');
      conns.push(c);
      c.socket.write(`GET /big/${i} HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${await mtlsToken(h)}\r\n\r\n`);
      // Read (and drop) the whole answer as it comes.
      let got = 0;
      await new Promise<void>((resolve) => {
        const onData = (d: Buffer) => {
          got += d.length;
          if (got >= BODY) {
            c.socket.off('data', onData);
            resolve();
          }
        };
        c.socket.on('data', onData);
      });
    }
    h.upstream.received.length = 0;
    await new Promise((r) => setTimeout(r, 300));
    expect(budget.inUse).toBe(0);
    const heldOpen = (await retainedBuffers()) - base;
    if (process.env.LEAKS_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(process.env.LEAKS_SNAPSHOT);
    for (const c of conns) c.socket.destroy();
    conns.length = 0;
    await new Promise((r) => setTimeout(r, 1500));
    const heldClosed = (await retainedBuffers()) - base;
    console.log(`retained with ${CONNS} idle connections: ${(heldOpen / 1e6).toFixed(1)} MB; after they closed: ${(heldClosed / 1e6).toFixed(1)} MB; budget in use: ${budget.inUse}`);
    expect(Math.round(heldOpen / 1e6), 'MB of signed responses retained by idle keep-alive connections').toBeLessThan((CONNS * BODY) / 2 / 1e6);
  }, 60_000);
});
