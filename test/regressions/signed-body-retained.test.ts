// Found in review (fixed; the test failed before): README (http_signatures.max_buffered_bytes): "What signed request bodies and signed responses ... may
// hold in memory at once, together ... Without it, enough concurrent large signed bodies would end the
// process." Bug: once a signed request has been forwarded and answered, its BufferBudget share is given
// back (gateway.ts:557 res.once('close', () => read.release())), but the body Buffer itself stays
// reachable for as long as the keep-alive connection stays open: the forwarder stores it on the request
// (src/forward/proxy-forwarder.ts:542 `req[kBody] = extra.body`, never cleared), and Gateway.reading
// (src/gateway.ts:233, set at :285) keeps the connection's latest request (req, res, outcome) until the next request
// or the close. So N idle keep-alive connections hold N bodies (up to max_body_bytes = 10 MiB each) that
// the budget no longer counts: memory is no longer bounded by max_buffered_bytes (heap snapshot path:
// TLSSocket -> reading entry -> req -> Symbol(fapi.body) -> Buffer). One more request on the connection frees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { edKey, head, mtlsReq, openTls, retainedBuffers, sign, signedHarness, type ClientKey } from '../support/http-sig.js';

const BODY = 2_000_000;
const CONNS = 10;

let h: Harness;
let k: ClientKey;
beforeAll(async () => {
  k = edKey('k1');
  h = await signedHarness([{ id: 'signed', match: { methods: ['POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [k], (c) => {
    // An operator's longer keep-alive (Node's 5 s default would close them while we measure).
    c.server.limits = { ...c.server.limits, keep_alive_timeout_ms: 60000 };
    c.http_signatures.max_body_bytes = BODY;
    c.http_signatures.max_buffered_bytes = 8 * 1_048_576;
  });
});
afterAll(async () => h?.close());

describe('signed request bodies after their response', () => {
  it('idle keep-alive connections do not keep their last signed body alive once its budget share is given back', async () => {
    const budget = (h.gw.gateway as any).pipeline.settings.buffers;
    const base = (await retainedBuffers());
    const conns = [];
    for (let i = 0; i < CONNS; i++) {
      const body = Buffer.alloc(BODY, String(i % 10));
      const req = await sign(await mtlsReq(h, 'POST', `/signed/${i}`, body), k);
      const c = await openTls(h);
      conns.push(c);
      c.socket.write(head(h, req, [['Content-Length', String(BODY)]]));
      c.socket.write(body);
      expect(await c.waitFor(/HTTP\/1\.1 \d{3}[\s\S]*\r\n\r\n[\s\S]*\}/, 5000)).toBe(true);
      expect(c.received().slice(0, 400)).toMatch(/^HTTP\/1\.1 200 /);
    }
    // The test's own copies: the upstream's record of what it received.
    h.upstream.received.length = 0;
    await new Promise((r) => setTimeout(r, 200));
    // Every body was given back to the budget ...
    expect(budget.inUse).toBe(0);
    const heldOpen = (await retainedBuffers()) - base;
    if (process.env.LEAKS_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(process.env.LEAKS_SNAPSHOT);
    // Diagnostic: one more (small, refused) request on each connection replaces its latest request.
    for (const c of conns) c.socket.write(`GET /nothing HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 500));
    const heldAfterNext = (await retainedBuffers()) - base;
    console.log(`after one more small request per connection: ${(heldAfterNext / 1e6).toFixed(1)} MB`);
    for (const c of conns) c.socket.destroy();
    conns.length = 0;
    await new Promise((r) => setTimeout(r, 1500));
    const heldClosed = (await retainedBuffers()) - base;
    console.log(`retained with ${CONNS} idle connections: ${(heldOpen / 1e6).toFixed(1)} MB; after they closed: ${(heldClosed / 1e6).toFixed(1)} MB; budget in use: ${budget.inUse}`);
    // ... yet the idle connections still hold them all (more than the whole 8 MiB budget).
    expect(Math.round(heldOpen / 1e6), 'MB of bodies retained by idle keep-alive connections').toBeLessThan(CONNS * BODY / 2 / 1e6);
  }, 60_000);
});
