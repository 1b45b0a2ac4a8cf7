// Found in review; failed on the code before its fix. What the bug was:
// An upstream response head Node will not write (a control character in the reason phrase): the
// forwarder means to refuse it with a 502 ("A header Node will not write: refuse the response rather
// than send part of it"), but writeHead has already stored the bad statusMessage on the response, so
// renderError's res.end() throws again and the client gets a cut connection with no answer at all
// (no status, no x-fapi-interaction-id, HDR-1 / §3 / HDR-6).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';

let reply = '';
const startUp = () => startRawUpstream((s) => s.end(reply));
let up: TestUpstream;
let h: Harness;
let token: string;
beforeAll(async () => {
  up = await startUp();
  h = await startHarness({
    routes: [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: 1500 } }],
    upstream: up,
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

describe('an upstream status line Node refuses to write', () => {
  it('a control character in the upstream reason phrase -> 502 in the error contract, not a silently cut connection', async () => {
    reply = 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok';
    const { response } = await h.raw(`GET /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, 2000);
    expect(response, 'the client got no response at all').not.toBe('');
    const r = parseRawResponse(response);
    expect(r.status).toBe(502);
    expect(r.head).toMatch(/\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/i);
    expect(JSON.parse(r.body)).toEqual({ error: 'bad_gateway', error_description: 'The upstream service is unavailable' });
  });
});
