// Found in review (fixed; the test failed before): a signed POST without a body and without framing headers (no Content-Length, no
// Transfer-Encoding: a body of length 0, RFC 9112 §6.3) reaches the upstream as
// `Transfer-Encoding: chunked`; the same unsigned request reaches it with `Content-Length: 0`. The
// pre-read empty body is written as an empty chunk (Readable.from([Buffer.alloc(0)])), which makes
// Node's ClientRequest frame a POST chunked. Upstreams that refuse chunked requests (411 Length
// Required) break only on signed routes; the README promises the body "forwarded byte for byte".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { edKey, head, mtlsReq, openTls, sign, signedHarness, type ClientKey, type Req } from '../support/http-sig.js';

let h: Harness;
let k: ClientKey;
beforeAll(async () => {
  k = edKey('k1');
  h = await signedHarness(
    [
      { id: 'signed', match: { methods: ['POST', 'PUT'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } },
      { id: 'plain', match: { methods: ['POST', 'PUT'], path_prefix: '/plain' }, auth: { binding: 'mtls' } },
    ],
    [k],
  );
});
afterAll(async () => h?.close());

async function upstreamFraming(req: Req): Promise<{ status: string; cl: unknown; te: unknown }> {
  const before = h.upstream.received.length;
  const c = await openTls(h);
  try {
    c.socket.write(head(h, req));
    await c.waitFor(/HTTP\/1\.1 \d+/);
    const up = h.upstream.received.slice(before)[0];
    return { status: c.received().split('\r\n')[0] as string, cl: up?.headers['content-length'], te: up?.headers['transfer-encoding'] };
  } finally {
    c.socket.destroy();
  }
}

describe('a bodiless request on a signed route keeps its framing', () => {
  it('unsigned baseline: forwarded with Content-Length: 0', async () => {
    expect(await upstreamFraming(await mtlsReq(h, 'POST', '/plain/nf'))).toEqual({ status: 'HTTP/1.1 200 OK', cl: '0', te: undefined });
  });
  it('signed POST and PUT without a body: forwarded with Content-Length: 0, not chunked', async () => {
    for (const m of ['POST', 'PUT']) {
      const signed = await sign(await mtlsReq(h, m, '/signed/nf'), k);
      expect(await upstreamFraming(signed), m).toEqual({ status: 'HTTP/1.1 200 OK', cl: '0', te: undefined });
    }
  });
});
