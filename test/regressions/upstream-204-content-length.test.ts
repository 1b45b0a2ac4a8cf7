// Found in review; failed on the code before its fix. What the bug was:
// RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with a status
// code of 1xx (Informational) or 204 (No Content)." RFC 9112 §6.3 makes a 204 end at its header
// section, but a client or intermediary in front of the gateway that honours Content-Length waits for
// those bytes and then reads the next response on the kept-alive connection as this one's body. The
// forwarder copies the upstream's Content-Length onto a 204 (responseHeaders only drops hop-by-hop
// and gateway-owned fields).
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
    routes: [{ id: 'mtls', match: { methods: ['DELETE'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: 1500 } }],
    upstream: up,
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

describe('RFC 9110 §8.6: no Content-Length on a 204', () => {
  it('an upstream 204 with Content-Length: 5 -> the client\'s 204 carries no Content-Length', async () => {
    reply = 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n';
    const { response } = await h.raw(`DELETE /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    const r = parseRawResponse(response);
    expect(r.status).toBe(204);
    expect(r.head).not.toMatch(/\r\ncontent-length:/i);
  });
});
