// http_signatures.max_buffered_bytes: signed request bodies (SIG-6) and signed responses (SIG-8) are
// held whole in memory, each up to its max_body_bytes; together they may hold at most this budget, and
// a body that would exceed it is refused (503 GW_BUFFERS_FULL, Retry-After) rather than the process
// running out of memory under many concurrent large bodies. Real TLS, real signatures, real upstream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, request } from '../support/client.js';
import { logFor, type Harness } from '../support/gateway.js';
import { edKey, head, keyFile, mtlsReq, mtlsToken, openTls, sign, signedHarness, signingHarness, type ClientKey, type SigningKeyFile } from '../support/http-sig.js';

const BODY = 700_000; // two do not fit in the 1 MiB budget
const budget = (c: Record<string, any>): void => {
  c.http_signatures.max_buffered_bytes = 1_048_576;
};

describe('signed request bodies share the budget', () => {
  let h: Harness;
  let k: ClientKey;
  beforeAll(async () => {
    k = edKey('k1');
    h = await signedHarness([{ id: 'signed', match: { methods: ['POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }], [k], (c) => {
      budget(c);
      c.http_signatures.max_body_bytes = BODY;
    });
  });
  afterAll(async () => h?.close());

  it('SIG-6: while one body is being read, a second that would exceed the budget gets 503 GW_BUFFERS_FULL; once the first is answered, it passes', async () => {
    const body = Buffer.alloc(BODY, 'a');
    const first = await sign(await mtlsReq(h, 'POST', '/signed/first', body), k);
    const a = await openTls(h);
    const before = h.upstream.received.length;
    try {
      // The head and half the body: its buffer (the declared length) is held while the rest is awaited.
      a.socket.write(head(h, first, [['Content-Length', String(BODY)]]));
      a.socket.write(body.subarray(0, BODY / 2));
      await new Promise((r) => setTimeout(r, 200));

      const second = await sign(await mtlsReq(h, 'POST', '/signed/second', body), k);
      const b = await openTls(h);
      try {
        b.socket.write(head(h, second, [['Content-Length', String(BODY)]]));
        b.socket.write(body);
        expect(await b.waitFor(/HTTP\/1\.1 \d{3}[\s\S]*\r\n\r\n[\s\S]*\}/)).toBe(true);
        const r = parseRawResponse(b.received());
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(r.headers.connection).toBe('close');
        expect(JSON.parse(r.body)).toMatchObject({ error: 'temporarily_unavailable' });
        expect(await logFor(h, r.headers['x-fapi-interaction-id'] as string)).toMatchObject({ reason: 'GW_BUFFERS_FULL', decision: 'error' });
      } finally {
        b.socket.destroy();
      }

      a.socket.write(body.subarray(BODY / 2));
      expect(await a.waitFor(/HTTP\/1\.1 \d{3}/)).toBe(true);
      expect(parseRawResponse(a.received()).status).toBe(200);
    } finally {
      a.socket.destroy();
    }
    expect(h.upstream.received.length - before).toBe(1);

    // The first one's buffer was given back with its response: the same request passes now.
    const again = await sign(await mtlsReq(h, 'POST', '/signed/again', body), k);
    const c = await openTls(h);
    try {
      c.socket.write(head(h, again, [['Content-Length', String(BODY)]]));
      c.socket.write(body);
      expect(await c.waitFor(/HTTP\/1\.1 \d{3}/)).toBe(true);
      expect(parseRawResponse(c.received()).status).toBe(200);
    } finally {
      c.socket.destroy();
    }
  });
});

describe('signed responses share the budget', () => {
  let h: Harness;
  let key: SigningKeyFile;
  /** Upstream answers held until released: each sends its head and half its body first. */
  const held: (() => void)[] = [];
  beforeAll(async () => {
    key = keyFile();
    h = await signingHarness([{ id: 'big', match: { methods: ['GET'], path_prefix: '/big' }, auth: { binding: 'mtls' } }], key, {
      patch: (c) => {
        budget(c);
        c.http_signatures.max_body_bytes = BODY;
        c.http_signatures.response_signing.max_body_bytes = BODY;
      },
    });
    h.upstream.handler = (_req: IncomingMessage, res: ServerResponse) => {
      const body = Buffer.alloc(BODY, 'r');
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(BODY) });
      res.write(body.subarray(0, BODY / 2));
      held.push(() => res.end(body.subarray(BODY / 2)));
    };
  });
  afterAll(async () => {
    for (const release of held) release();
    await h?.close();
    key?.cleanup();
  });

  const get = async (path: string) =>
    request(h.url(path), { ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, headers: [['Authorization', `Bearer ${await mtlsToken(h)}`]] });

  it('SIG-8: a second large signed response while the first is buffered gets 503 GW_BUFFERS_FULL; the first is signed and sent whole', async () => {
    const first = get('/big/1');
    await new Promise<void>((r) => {
      const t = setInterval(() => held.length === 1 && (clearInterval(t), r()), 10);
    });
    const second = await get('/big/2');
    expect(second.status).toBe(503);
    expect(second.headers['retry-after']).toBe('1');
    expect(await logFor(h, second.headers['x-fapi-interaction-id'] as string)).toMatchObject({ reason: 'GW_BUFFERS_FULL' });
    for (const release of held.splice(0)) release();
    const r = await first;
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(BODY);
    expect(r.headers.signature).toBeDefined();
    // Given back: a third passes once released.
    const third = get('/big/3');
    await new Promise<void>((ok) => {
      const t = setInterval(() => held.length === 1 && (clearInterval(t), ok()), 10);
    });
    for (const release of held.splice(0)) release();
    expect((await third).status).toBe(200);
  });
});

describe('config: the budget must hold the largest body', () => {
  it('max_buffered_bytes below max_body_bytes is refused with the config', async () => {
    const k = edKey('k2');
    await expect(
      signedHarness([{ id: 'signed', match: { methods: ['POST'], path_prefix: '/s' }, auth: { binding: 'mtls', signed_requests: true } }], [k], (c) => {
        c.http_signatures.max_buffered_bytes = 1_048_576;
        c.http_signatures.max_body_bytes = 2_000_000;
      }),
    ).rejects.toThrow(/http_signatures\.max_buffered_bytes.*smaller than the largest body it must hold \(2000000 bytes/);
  });
});
