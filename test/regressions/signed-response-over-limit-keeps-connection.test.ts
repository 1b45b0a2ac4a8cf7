// Found in review (fixed; the test failed before): a signed response whose upstream body passes
// response_signing.max_body_bytes while it streams (chunked, no Content-Length) gets the gateway's 502
// with `Connection: keep-alive`, and then the connection is cut (fails every run). proxy-forwarder.ts
// signedResponse: `collect` -> tooLarge() calls the failure callback first (renderError writes the 502:
// headersSent is now true) and then proxyRes.destroy(); the upstream response's 'close' runs
// onUpstreamClose, which finds the response neither complete nor writableFinished (the 502 is still
// being flushed), computes `nothingSent = !res.headersSent` = false and calls res.destroy(). The fix in
// 736ee3d (signed-response-failure-keeps-connection) only covered onUpstreamClose calling kFail itself;
// its "/too-big" case declares Content-Length and "passes here (timing)". Same for the BodyBuffer
// allocation failure path. README "Signed responses": "an upstream that fails mid-body gets a 502
// instead of a cut connection"; the next request on the connection (or a pipelined one) is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/gateway.js';
import { openTls, keyFile, mtlsToken, signingHarness, type SigningKeyFile } from '../support/http-sig.js';

let h: Harness;
let key: SigningKeyFile;
beforeAll(async () => {
  key = keyFile();
  h = await signingHarness([{ id: 'out', match: { methods: ['GET'], path_prefix: '/out' }, auth: { binding: 'mtls' } }], key);
  h.upstream.handler = (req, res) => {
    if ((req.url ?? '').includes('/too-big-chunked')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let n = 0;
      const tick = (): void => {
        if (res.destroyed) return;
        res.write(Buffer.alloc(300, 'x'));
        if (++n < 10) setTimeout(tick, 5);
        else res.end();
      };
      return tick();
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  };
});
afterAll(async () => {
  await h?.close();
  key.cleanup();
});

describe('a signed response over max_body_bytes while it streams', () => {
  it('502, then the same keep-alive connection serves the next request', async () => {
    const token = await mtlsToken(h);
    const c = await openTls(h);
    try {
      c.socket.write(`GET /out/too-big-chunked HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      await c.waitFor(/\r\n\r\n\{[^}]*\}/, 3000);
      const text = c.received();
      expect(text.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
      const connection = /\r\nconnection: ([^\r]*)/i.exec(text)?.[1];
      await new Promise((r) => setTimeout(r, 200));
      if (connection?.toLowerCase() === 'close') return;
      expect(c.closed(), `Connection: ${connection}`).toBe(false);
      const before = c.received().length;
      c.socket.write(`GET /out/ok HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      await c.waitFor(/HTTP\/1\.1 \d+[^]*HTTP\/1\.1 \d+/, 2000);
      expect(c.received().slice(before).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    } finally {
      c.socket.destroy();
    }
  });
});
