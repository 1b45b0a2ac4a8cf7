// Found in review (fixed; the test failed before): on a signed route, a request with `Expect: 100-continue` that carries no signature at all
// (or one refusable from its head alone: stale `created`, unknown keyid, missing coverage) gets
// `100 Continue`, uploads its whole body, is buffered up to max_body_bytes, and only then gets the 401.
// README (connection handling): "A request with `Expect: 100-continue` gets its `100 Continue` only
// once every check passed and it is about to be forwarded; a refusal comes without it, at once ... so a
// client with a bad token never uploads its body". The header-only SIG-2..SIG-5 checks (and the
// signature itself for body-less coverage) can run before the body is read; only the Content-Digest
// comparison (SIG-6) needs it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, type Harness } from '../support/gateway.js';
import { edKey, head, mtlsReq, now, openTls, sign, signedHarness, type ClientKey, type Req } from '../support/http-sig.js';

let h: Harness;
let k: ClientKey;
beforeAll(async () => {
  k = edKey('k1');
  h = await signedHarness([{ id: 'signed', match: { methods: ['POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [k]);
});
afterAll(async () => h?.close());

/** Sends only the head (Expect: 100-continue, a 4 KB Content-Length) and reports what comes back within 1 s. */
async function headOnly(req: Req): Promise<{ first: string; iid: string }> {
  const iid = randomUUID();
  const c = await openTls(h);
  try {
    c.socket.write(head(h, req, [['Content-Length', '4096'], ['Expect', '100-continue'], ['x-fapi-interaction-id', iid]]));
    await c.waitFor(/HTTP\/1\.1 \d+/, 1000);
    return { first: c.received().split('\r\n')[0] ?? '', iid };
  } finally {
    c.socket.destroy();
  }
}

describe('Expect: 100-continue on a signed route, refusable from the head', () => {
  const body = Buffer.alloc(4096, 0x61);
  it('no Signature / Signature-Input at all: 401 at once, no 100 Continue', async () => {
    const { first, iid } = await headOnly(await mtlsReq(h, 'POST', '/signed/a', body));
    expect(first).toBe('HTTP/1.1 401 Unauthorized');
    expect((await logFor(h, iid))?.reason).toBe('GW_HTTP_SIG_MISSING');
  });
  it('a signature created 10 minutes ago: 401 at once, no 100 Continue', async () => {
    const { first } = await headOnly(await sign(await mtlsReq(h, 'POST', '/signed/b', body), k, { created: now() - 600 }));
    expect(first).toBe('HTTP/1.1 401 Unauthorized');
  });
  it('without Expect, no signature: the 401 does not wait for (and buffer) the body, as a token refusal does not', async () => {
    // Baseline: a bad token on the same route is answered from the head alone.
    const bad = { method: 'POST', path: '/signed/c', headers: [['Authorization', 'Bearer not-a-jwt']] as [string, string][] };
    const c0 = await openTls(h);
    c0.socket.write(head(h, bad, [['Content-Length', '1048576']]));
    expect(await c0.waitFor(/HTTP\/1\.1 401/, 1000)).toBe(true);
    c0.socket.destroy();
    // No signature at all, valid token: the gateway waits for the 1 MB body it will buffer, then refuses.
    const c = await openTls(h);
    c.socket.write(head(h, await mtlsReq(h, 'POST', '/signed/c', body), [['Content-Length', '1048576']]));
    expect(await c.waitFor(/HTTP\/1\.1 401/, 1000)).toBe(true);
    c.socket.destroy();
  });
});
