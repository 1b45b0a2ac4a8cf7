// Found in review (fixed; the test failed before): Request side: what the upstream reads as the framing of a forwarded request (review-smuggle). Node's
// parser on the client side is strict; the upstream is a legacy server that may not be. The gateway
// re-frames every body (design.md "Frame every forwarded body explicitly"), so the framing fields the
// upstream gets should be the gateway's, in their one canonical form, and nothing should tell the
// upstream to treat the body as optional. The upstream here is a raw TCP server that records the exact
// bytes it receives; the legacy readings are modelled on those bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';
import { OK, startRecorder, type Recorder } from '../support/recorder.js';

let h: Harness;
let rec: Recorder;
let token: string;
beforeAll(async () => {
  rec = await startRecorder();
  h = await startHarness({
    upstream: upstreamAt(rec.port),
    routes: [{ id: 'mtls', match: { methods: ['GET', 'POST', 'DELETE'], path_prefix: '/mtls' }, auth: { binding: 'mtls' } }],
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), sub: 'alice' });
});
afterAll(async () => {
  await h?.close();
  await rec?.close();
});

/** A request the gateway never authorised, hidden in an authorised request's body, with a forged identity. */
const SMUGGLED = 'GET /mtls/admin/export HTTP/1.1\r\nHost: x\r\nX-Authenticated-Subject: victim\r\nContent-Length: 0\r\n\r\n';

/** Sends raw bytes over TLS (client1) and returns the client's view and the upstream bytes it caused. */
async function send(payload: string): Promise<{ status: number; upstream: string }> {
  const before = rec.all().length;
  const { response } = await h.raw(payload, 1500);
  // The gateway's own 100 Continue (Expect) comes first: the final answer is the status.
  return { status: parseRawResponse(response.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '')).status, upstream: rec.all().slice(before) };
}

/** The head of every request in `bytes`, read as a legacy server whose framing rules are given. */
function legacyRequestLines(bytes: string, bodyLength: (head: string) => number | 'chunked'): string[] {
  const out: string[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const head = rest.slice(0, end);
    out.push(head.split('\r\n')[0] as string);
    rest = rest.slice(end + 4);
    const n = bodyLength(head);
    if (n === 'chunked') {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, nl), 16);
        rest = rest.slice(nl + 2 + size + 2);
        if (!(size > 0)) break;
      }
    } else rest = rest.slice(n);
  }
  return out;
}

const fieldLines = (bytes: string, name: string): string[] =>
  (bytes.slice(0, bytes.indexOf('\r\n\r\n')).split('\r\n').slice(1)).filter((l) => l.toLowerCase().startsWith(`${name}:`));

describe('Expect: 100-continue is the gateway\'s to answer, not the upstream\'s', () => {
  // Was (fixed): src/forward/headers.ts (withoutSpoofable/ALWAYS_STRIPPED) forwards the client's `Expect:
  // 100-continue` after gateway.ts already answered it (res.writeContinue) and the client sent its body;
  // Node's http client then sends the body at once without waiting for a 100. An upstream that answers
  // an Expect request with a final status before its body, and reads on (the "0.CL via Expect" desync
  // class), runs the body as a request of its own: one the gateway never authorised, with the identity
  // headers the attacker wrote. Envoy answers the expectation itself and strips the field for this reason.
  it('the upstream request carries no Expect, so a legacy upstream reads the body as a body', async () => {
    const x = await send(
      `POST /mtls/upload HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\n` +
        `Content-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`,
    );
    expect(x.status).toBe(200);
    expect(fieldLines(x.upstream, 'expect')).toEqual([]);
    // A legacy upstream that answers an Expect request before its content does not read that content.
    const legacy = legacyRequestLines(x.upstream, (head) => (/\r\nexpect:\s*100-continue/i.test(head) ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)));
    expect(legacy).toEqual(['POST /mtls/upload HTTP/1.1']);
  });

  it('an upstream that implements no expectations (417 to any Expect, as HTTP/1.0-era servers answer): the client the gateway told "100 Continue" gets the upstream\'s real answer', async () => {
    rec.reply = ({ head }) =>
      /\r\nexpect:/i.test(head)
        ? 'HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n'
        : 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    try {
      const { response } = await h.raw(
        `POST /mtls/payments HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        1500,
      );
      expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
    } finally {
      rec.reply = OK;
    }
  });
});

describe('HDR-12: the framing fields of a re-framed body are the gateway\'s, in canonical form', () => {
  // Was (fixed): src/forward/headers.ts keeps the client's transfer-encoding and content-length values as sent;
  // Node's http client chunks on any spelling of "chunked" and writes the value verbatim. The body the
  // upstream gets is chunked by Node, labelled in the client's spelling.
  it('Transfer-Encoding: CHUNKED from the client reaches the upstream as "transfer-encoding: chunked"', async () => {
    const x = await send(
      `POST /mtls/te HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n` +
        `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    );
    expect(x.status).toBe(200);
    expect(fieldLines(x.upstream, 'transfer-encoding')).toEqual(['transfer-encoding: chunked']);
  });

  it('Content-Length: 0000000000000000000000031 reaches the upstream as the length the gateway framed ("31")', async () => {
    const body = 'x'.repeat(31);
    const x = await send(`POST /mtls/cl HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0000000000000000000000031\r\nConnection: close\r\n\r\n${body}`);
    expect(x.status).toBe(200);
    expect(fieldLines(x.upstream, 'content-length')).toEqual(['content-length: 31']);
  });
});

describe('pins (raw upstream bytes): what the upstream never gets', () => {
  it('a bare CR inside a header value (hiding a Transfer-Encoding line from a CR-splitting parser) -> 400 from the listener, nothing forwarded', async () => {
    for (const field of ['X-A: a\rTransfer-Encoding: chunked', 'X-Authenticated-Subject: alice\rX-Authenticated-Subject: victim', 'X-A: a\r b']) {
      const x = await send(`POST /mtls/cr HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n${field}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n0\r\n\r\n`);
      expect(x.status, JSON.stringify(field)).toBe(400);
      expect(x.upstream, JSON.stringify(field)).toBe('');
    }
  });

  it('chunk extensions and request trailers are not passed on: Node re-chunks the decoded body', async () => {
    const x = await send(
      `POST /mtls/ext HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        '4;x-authenticated-subject=victim;q="a\\"b"\r\nabcd\r\n0;ext=1\r\nX-Authenticated-Subject: victim\r\n\r\n',
    );
    expect(x.status).toBe(200);
    expect(x.upstream).not.toContain('victim');
    expect(x.upstream).not.toContain(';');
    expect(x.upstream.slice(x.upstream.indexOf('\r\n\r\n') + 4)).toBe('4\r\nabcd\r\n0\r\n\r\n');
  });

  it('Connection naming the fields the gateway sets (interaction id, X-Forwarded-For, identity, Host, Content-Length): the gateway\'s values reach the upstream, once each', async () => {
    const id = '7d7e3c4c-2f4e-4b8e-9f5a-0c1d2e3f4a5b';
    const x = await send(
      `POST /mtls/conn HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\n` +
        'Connection: x-fapi-interaction-id, x-forwarded-for, x-forwarded-host, x-authenticated-subject, x-authenticated-binding, host, content-length, close\r\n' +
        'X-Forwarded-For: 6.6.6.6\r\nX-Authenticated-Subject: victim\r\nContent-Length: 2\r\n\r\n{}',
    );
    expect(x.status).toBe(200);
    const head = x.upstream.slice(0, x.upstream.indexOf('\r\n\r\n'));
    expect(fieldLines(x.upstream, 'x-fapi-interaction-id')).toEqual([`x-fapi-interaction-id: ${id}`]);
    expect(fieldLines(x.upstream, 'x-forwarded-for')).toEqual(['x-forwarded-for: 127.0.0.1']);
    expect(fieldLines(x.upstream, 'x-forwarded-host')).toEqual(['x-forwarded-host: api.test']);
    expect(fieldLines(x.upstream, 'x-authenticated-subject')).toEqual(['x-authenticated-subject: alice']);
    expect(fieldLines(x.upstream, 'x-authenticated-binding')).toEqual(['x-authenticated-binding: mtls']);
    expect(fieldLines(x.upstream, 'content-length')).toEqual(['content-length: 2']);
    expect(fieldLines(x.upstream, 'host')).toHaveLength(1);
    expect(head).not.toMatch(/victim|6\.6\.6\.6/);
    expect(x.upstream.endsWith('\r\n\r\n{}')).toBe(true);
  });

  it('response side: an upstream Connection naming the gateway\'s own fields (interaction id, Date) and Content-Length: the client gets the gateway\'s, once, and a body framed by the gateway', async () => {
    rec.reply = () =>
      'HTTP/1.1 200 OK\r\nConnection: keep-alive, x-fapi-interaction-id, date, content-length\r\nX-Fapi-Interaction-Id: upstream-id\r\n' +
      'Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    try {
      const id = '0b9e2a9c-5f0e-4a43-8a8c-7c2b0f0f5e11';
      const { response } = await h.raw(`GET /mtls/resp HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nx-fapi-interaction-id: ${id}\r\nConnection: close\r\n\r\n`, 1500);
      const r = parseRawResponse(response);
      expect(r.status).toBe(200);
      expect(response.match(/\r\nx-fapi-interaction-id: [^\r]*/gi)).toEqual([`\r\nx-fapi-interaction-id: ${id}`]);
      expect(response.match(/\r\ndate: [^\r]*/gi)).toHaveLength(1);
      expect(response).not.toContain('1970');
      expect(response).not.toContain('upstream-id');
      // Re-framed: Content-Length as listed hop-by-hop is dropped, the body is chunked to the client.
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['transfer-encoding']).toBe('chunked');
      expect(r.body).toBe('2\r\n{}\r\n0\r\n\r\n');
    } finally {
      rec.reply = OK;
    }
  });
});
