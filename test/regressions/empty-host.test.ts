// Found in review; failed on the code before its fix. What the bug was:
// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
// message that ... contains ... a Host header field with an invalid field value." RFC 9110 §4.2.2: an
// "https" URI with an empty host identifier is invalid and a recipient MUST reject it. HOST_FIELD_RE
// (src/uri-host.ts) lets reg-name be empty, so `Host:` (empty) and `Host: :443` are routed and
// forwarded (with preserve_host, the upstream even receives the empty Host).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
});
afterAll(async () => {
  await h?.close();
});

describe('RFC 9112 §3.2 / RFC 9110 §4.2.2: a Host without a host', () => {
  for (const host of ['', ':443']) {
    it(`Host: "${host}" -> 400, not forwarded`, async () => {
      const before = h.upstream.received.length;
      const { response } = await h.raw(`GET /accounts/1 HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
      expect(parseRawResponse(response).status).toBe(400);
      expect(h.upstream.received.length).toBe(before);
    });
  }
});
