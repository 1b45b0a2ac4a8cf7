// Found in review (fixed; the test failed before): proxy-forwarder.ts now enforces timeout_ms itself (onUpstreamTimeout marks the request timed
// out and destroys the upstream request). When that happens mid-body (a Content-Length body that stalls
// on a kept-alive upstream connection), the close it causes is reported by onUpstreamClose as
// GW_UPSTREAM_UNAVAILABLE "upstream response aborted mid-body": the log blames a dead upstream for a
// timeout. (A close-delimited body gets GW_UPSTREAM_TIMEOUT through onStalledBody.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startRawUpstream, type TestUpstream } from '../support/upstream.js';

const TIMEOUT_MS = 800;
// Promises 100 bytes, sends 7, then stays silent with the connection open.
const startUp = () => startRawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial'));
let up: TestUpstream;
let h: Harness;
let token: string;
beforeAll(async () => {
  up = await startUp();
  h = await startHarness({
    routes: [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: TIMEOUT_MS } }],
    upstream: up,
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

describe('a Content-Length body that stalls past timeout_ms', () => {
  it('is cut, and its log line says GW_UPSTREAM_TIMEOUT', async () => {
    const { response, closed } = await h.raw(`GET /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\n\r\n`, 4 * TIMEOUT_MS);
    expect(closed).toBe(true);
    expect(parseRawResponse(response).status).toBe(200);
    const line = await logFor(h, parseRawResponse(response).headers['x-fapi-interaction-id'] as string);
    expect({ reason: line?.reason, detail: line?.detail }).toMatchObject({ reason: 'GW_UPSTREAM_TIMEOUT' });
  });
});
