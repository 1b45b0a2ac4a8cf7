// Signed routes (SIG-2..SIG-7) under hostile bodies and connections, pipelining, upstream failures after
// a pre-read body, and a fuzz of the verifier for any exception that would be a 500.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors/gateway-error.js';
import { ClientKeyring } from '../../src/signature/client-keys.js';
import { RequestSignatureVerifier } from '../../src/signature/request-signature.js';
import { logFor, type Harness } from '../support/gateway.js';
import { edKey, head, mtlsReq, openTls, sign, signedHarness, type ClientKey } from '../support/http-sig.js';
import { startOneShotUpstream } from '../support/upstream.js';

let h: Harness;
let k: ClientKey;
beforeAll(async () => {
  k = edKey('k1');
  h = await signedHarness(
    [{ id: 'signed', match: { methods: ['GET', 'POST', 'HEAD'], path_prefix: '/signed' }, auth: { binding: 'any', signed_requests: true } }],
    [k],
    (c) => {
      c.server.limits = { request_timeout_ms: 1500, headers_timeout_ms: 1000, send_timeout_ms: 2000 };
    },
  );
});
afterAll(async () => h?.close());

describe('hostile bodies and connections on a signed route', () => {
  it('a body that never ends: 408 after request_timeout_ms, one log line, nothing forwarded', async () => {
    const body = Buffer.from('{"a":1}');
    const req = await sign(await mtlsReq(h, 'POST', '/signed/slow', body), k);
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const c = await openTls(h);
    c.socket.write(head(h, req, [['Content-Length', '100'], ['x-fapi-interaction-id', iid]]));
    c.socket.write(body);
    expect(await c.waitFor(/HTTP\/1\.1 408/, 4000)).toBe(true);
    c.socket.destroy();
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_REQUEST_TIMEOUT', status: 408, route: 'signed' });
    expect(h.upstream.received.length).toBe(before);
  });
  it('a parser-refused chunked body: 400 with the request\'s own id and log line, nothing forwarded', async () => {
    const req = await sign(await mtlsReq(h, 'POST', '/signed/bad-chunk', Buffer.from('{"a":1}')), k);
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const c = await openTls(h);
    c.socket.write(head(h, req, [['Transfer-Encoding', 'chunked'], ['x-fapi-interaction-id', iid]]));
    c.socket.write('7\r\n{"a":1}\r\nZZ\r\n');
    expect(await c.waitFor(new RegExp(`HTTP/1\\.1 400[\\s\\S]*${iid}`), 3000)).toBe(true);
    c.socket.destroy();
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_BAD_REQUEST', status: 400 });
    expect(h.upstream.received.length).toBe(before);
  });
  it('a client gone mid-body: nothing forwarded, one log line', async () => {
    const req = await sign(await mtlsReq(h, 'POST', '/signed/gone', Buffer.from('{"a":1}')), k);
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const c = await openTls(h);
    c.socket.write(head(h, req, [['Content-Length', '100'], ['x-fapi-interaction-id', iid]]));
    c.socket.write('{"a":1}');
    await new Promise((r) => setTimeout(r, 200));
    c.socket.destroy();
    expect((await logFor(h, iid))?.decision).toBe('deny');
    expect(h.upstream.received.length).toBe(before);
  });
  it('pipelined signed POSTs with bodies: both verified and forwarded in order with their own bodies', async () => {
    const b1 = Buffer.from('{"n":1}');
    const b2 = Buffer.from('{"n":2}');
    const r1 = await sign(await mtlsReq(h, 'POST', '/signed/p1', b1), k);
    const r2 = await sign(await mtlsReq(h, 'POST', '/signed/p2', b2), k);
    const before = h.upstream.received.length;
    const c = await openTls(h);
    c.socket.write(Buffer.concat([Buffer.from(head(h, r1, [['Content-Length', '7']])), b1, Buffer.from(head(h, r2, [['Content-Length', '7']])), b2]));
    expect(await c.waitFor(/HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 200/, 3000)).toBe(true);
    c.socket.destroy();
    expect(h.upstream.received.slice(before).map((r) => [r.url, r.body.toString()])).toEqual([
      ['/signed/p1', '{"n":1}'],
      ['/signed/p2', '{"n":2}'],
    ]);
  });
  it('GET and HEAD with a body: the body is digested, verified and forwarded as sent', async () => {
    for (const m of ['GET', 'HEAD']) {
      const b = Buffer.from('{"q":1}');
      const r = await sign(await mtlsReq(h, m, '/signed/gb', b), k);
      const before = h.upstream.received.length;
      const res = await h.call('/signed/gb', { method: m, cert: h.pki.client1, headers: r.headers, body: b });
      expect(res.status, m).toBe(200);
      expect(h.upstream.received.slice(before).map((x) => [x.method, x.body.toString()])).toEqual([[m, '{"q":1}']]);
    }
  });
});

describe('upstream failures after a pre-read body', () => {
  it('a reset pooled connection under a signed POST: 502, not sent again', async () => {
    const legacy = await startOneShotUpstream();
    const h2 = await signedHarness([{ id: 'signed', match: { methods: ['POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true }, upstream: { url: legacy.url } }], [k]);
    try {
      const b = Buffer.from('{"pay":1}');
      const call = async (p: string): Promise<number> => {
        const s = await sign(await mtlsReq(h2, 'POST', p, b), k);
        return (await h2.call(p, { method: 'POST', cert: h2.pki.client1, headers: s.headers, body: b })).status;
      };
      expect(await call('/signed/1')).toBe(200);
      expect(await call('/signed/2')).toBe(502);
      expect(legacy.served).toEqual(['POST /signed/1']);
    } finally {
      await h2.close();
      await legacy.close();
    }
  });
  it('an upstream that never answers: 504 after timeout_ms', async () => {
    h.upstream.behaviour = 'hang';
    try {
      const b = Buffer.from('{"pay":1}');
      const s = await sign(await mtlsReq(h, 'POST', '/signed/hang', b), k);
      const r = await h.call('/signed/hang', { method: 'POST', cert: h.pki.client1, headers: s.headers, body: b });
      expect(r.status).toBe(504);
    } finally {
      h.upstream.behaviour = 'ok';
    }
  });
});

describe('the verifier only ever refuses with a GatewayError (no 500) on hostile Signature-Input / Signature / Content-Digest', () => {
  const pair = generateKeyPairSync('ed25519');
  const keys = new ClientKeyring(new Map([['c1', new Map([['k1', { key: pair.publicKey, alg: 'Ed25519' as const }]])]]));
  const NOW = 1_700_000_000;
  const v = new RequestSignatureVerifier(keys, 60, () => NOW);
  const atoms = ['sig1', '=', '(', ')', ' ', '"@method"', '"@target-uri"', '"authorization"', '"content-digest"', '"@authority"', '"@query"', '"@path"', '"@scheme"',
    '"@request-target"', ';created=', `${NOW}`, '1.5', ';keyid=', '"k1"', ';tag=', '"fapi-2-request"', ';alg=', '"ed25519"', 'tok', ';expires=', '@', '%"', '?1',
    ':AAAA:', ',', ';', '"x-a"', '-', '0', '9999999999999999', '"\\"', '"@signature-params"', '"@status"', '*', 'sha-256=', 'sha-512='];
  const str = fc.array(fc.constantFrom(...atoms), { maxLength: 40 }).map((a) => a.join(''));
  it('fuzz', async () => {
    await fc.assert(
      fc.asyncProperty(str, str, str, fc.boolean(), async (input, signature, cd, body) => {
        try {
          await v.verify({ method: 'POST', targetUri: 'https://api.test/a?b', rawHeaders: ['Authorization', 'Bearer x', 'X-A', 'v', 'Signature-Input', input, 'Signature', signature, 'Content-Digest', cd], hasBody: body }, 'c1');
        } catch (e) {
          if (!isGatewayError(e)) throw e;
        }
      }),
      { numRuns: 20000 },
    );
  });
});
