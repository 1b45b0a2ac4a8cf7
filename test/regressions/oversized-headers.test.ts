// HDR-16 / CRED-8: header size and count limits. Oversized heads are answered by the listener itself with a
// contract-shaped 431; too many fields and oversized credentials are refused by the pipeline. Nothing is
// ever forwarded, and a second Authorization hidden behind thousands of fields can never slip through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, type RawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
});

type Raw = RawResponse & { readonly closed: boolean };

/** Raw request over TLS with the client1 certificate; `fields` are complete header lines. */
async function send(requestLine: string, fields: string[], timeoutMs = 3000): Promise<Raw> {
  const { response, closed } = await h.raw(`${requestLine}\r\nHost: api.test\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`, timeoutMs);
  return { ...parseRawResponse(response), closed };
}

/** 431 with the §3 contract headers and the JSON body; the upstream untouched. */
async function tooLarge(requestLine: string, fields: string[]): Promise<Raw> {
  const before = h.upstream.received.length;
  const r = await send(requestLine, fields);
  expect(r.status).toBe(431);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['cache-control']).toBe('no-store');
  expect(r.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(Math.abs(Date.parse(r.headers.date ?? '') - Date.now())).toBeLessThan(5 * 60_000);
  expect(JSON.parse(r.body)).toEqual({ error: 'invalid_request', error_description: 'Request header fields are too large' });
  expect(h.upstream.received.length).toBe(before);
  return r;
}

async function stillServing(): Promise<void> {
  const before = h.upstream.received.length;
  const r = await h.call('/accounts/ok', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
  expect(r.status).toBe(200);
  expect(h.upstream.received.length).toBe(before + 1);
}

describe('HDR-16: total header size', () => {
  it('HDR-16: headers over 16 KiB -> 431 from the listener, JSON body, x-fapi-interaction-id and Date', async () => {
    const r = await tooLarge('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${token}`, `X-Padding: ${'a'.repeat(17 * 1024)}`]);
    expect(r.closed).toBe(true);
    await stillServing();
  });
  it('HDR-16: 16 KiB spread over many small fields -> 431', async () => {
    const fields = Array.from({ length: 90 }, (_, i) => `X-P${i}: ${'b'.repeat(200)}`);
    await tooLarge('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${token}`, ...fields]);
  });
  it('HDR-16: an oversized request line -> 431 (or 414-style refusal), never forwarded', async () => {
    const before = h.upstream.received.length;
    const r = await send(`GET /accounts/1?q=${'c'.repeat(17 * 1024)} HTTP/1.1`, [`Authorization: Bearer ${token}`]);
    expect([400, 414, 431]).toContain(r.status);
    expect(r.headers['x-fapi-interaction-id']).toBeDefined();
    expect(h.upstream.received.length).toBe(before);
  });
  it('control: headers just under the limit are accepted', async () => {
    const before = h.upstream.received.length;
    const r = await send('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${token}`, `X-Padding: ${'a'.repeat(12 * 1024)}`]);
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });
});

describe('HDR-16: header field count', () => {
  it('HDR-16: more than 100 header fields -> 431', async () => {
    const fields = Array.from({ length: 101 }, (_, i) => `X-F${i}: 1`);
    // Under 16 KiB in bytes: the pipeline counts raw fields (Node's own maxHeadersCount would drop extras silently).
    await tooLarge('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${token}`, ...fields]);
  });
  it('control: 90 fields -> 200', async () => {
    const before = h.upstream.received.length;
    const r = await send('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${token}`, ...Array.from({ length: 90 }, (_, i) => `X-F${i}: 1`)]);
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });
  it('HDR-16 / CRED-5: 3000 tiny fields with a second Authorization hidden at the end -> never 200, never forwarded', async () => {
    const before = h.upstream.received.length;
    const victim = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'victim' });
    const fields = [`Authorization: Bearer ${token}`, ...Array.from({ length: 3000 }, () => 'a:'), `Authorization: Bearer ${victim}`];
    const r = await send('GET /accounts/1 HTTP/1.1', fields);
    expect(r.status).not.toBe(200);
    expect([400, 431]).toContain(r.status);
    expect(h.upstream.received.length).toBe(before);
    await stillServing();
  });
  it('CRED-5: the same hidden second Authorization under a raised field limit -> 400, never forwarded', async () => {
    const g = await startHarness({ patch: (c) => (c.server.limits = { max_headers: 1000, max_header_bytes: 65536 }) });
    try {
      const t = await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) });
      const before = g.upstream.received.length;
      const fields = [`Authorization: Bearer ${t}`, ...Array.from({ length: 900 }, () => 'a:'), `Authorization: Bearer ${t}`];
      const { response } = await g.raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\n${fields.map((f) => `${f}\r\n`).join('')}Connection: close\r\n\r\n`);
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toContain('"error":"invalid_request"');
      expect(g.upstream.received.length).toBe(before);
    } finally {
      await g.close();
    }
  });
});

describe('CRED-8: credential header size', () => {
  it('CRED-8: a 9 KB Authorization -> 431, never forwarded', async () => {
    await tooLarge('GET /accounts/1 HTTP/1.1', [`Authorization: Bearer ${'A'.repeat(9 * 1024)}`]);
    await stillServing();
  });
  it('CRED-8: a 20 KB DPoP header -> 431 or 400, never forwarded', async () => {
    const before = h.upstream.received.length;
    const r = await send('GET /dpop/1 HTTP/1.1', [`Authorization: DPoP ${token}`, `DPoP: ${'e'.repeat(20 * 1024)}`]);
    expect([400, 431]).toContain(r.status);
    expect(r.headers['x-fapi-interaction-id']).toBeDefined();
    expect(JSON.parse(r.body).error).toBe('invalid_request');
    expect(h.upstream.received.length).toBe(before);
  });
  it('CRED-8: a 9 KB DPoP header (under the total limit) -> 431 from the pipeline, never forwarded', async () => {
    await tooLarge('GET /dpop/1 HTTP/1.1', [`Authorization: DPoP ${token}`, `DPoP: ${'e'.repeat(9 * 1024)}`]);
  });
  it('control: a normal token -> 200', async () => {
    await stillServing();
  });
});

describe('HDR-16: server.limits changed by a reload apply to new connections', () => {
  it('max_header_bytes 16384 -> 2048: a 4 KB head is refused with 431 after the reload, served before; the handshake timeout is reported as needing a restart', async () => {
    const auth = `Authorization: Bearer ${token}`;
    const big = `X-Pad: ${'a'.repeat(4000)}`;
    expect((await send('GET /mtls/x HTTP/1.1', [auth, big])).status).toBe(200);
    h.reload((c) => {
      c.server.limits = { ...c.server.limits, max_header_bytes: 2048, handshake_timeout_ms: 5000 };
    });
    try {
      const r = await send('GET /mtls/x HTTP/1.1', [auth, big]);
      expect(r.status).toBe(431);
      expect(r.headers['x-fapi-interaction-id']).toMatch(/^[0-9a-f-]{36}$/);
      const line = h.logLines().findLast((l) => l.msg === 'config reloaded');
      expect(line?.needs_restart).toEqual(['limits.handshake_timeout_ms']);
    } finally {
      h.reload();
    }
    expect((await send('GET /mtls/x HTTP/1.1', [auth, big])).status).toBe(200);
  });
});
