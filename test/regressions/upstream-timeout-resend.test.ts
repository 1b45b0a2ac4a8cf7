// Found in review; failed on the code before its fix. What the bug was:
// Upstream timeout on a reused keep-alive connection: http-proxy-3's proxyTimeout destroys the upstream
// request, which surfaces as ECONNRESET on a reused socket, so mayResend() treats the timeout as a stale
// pooled connection and sends the GET again: the client waits twice timeout_ms and the upstream gets
// the request twice. README: "upstream.timeout_ms: No response in time: 504"; the resend is documented
// only for a pooled connection that is *reset*.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const TIMEOUT_MS = 800;
let h: Harness;
let up: TestUpstream;
let token: string;
beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({
    upstream: up,
    routes: [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: TIMEOUT_MS } }],
  });
  token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

describe('upstream timeout on a pooled connection', () => {
  it('a GET that times out on a reused upstream connection -> 504 after timeout_ms, sent upstream once (not resent)', async () => {
    const headers: [string, string][] = [['Authorization', `Bearer ${token}`]];
    // Warm the pool: one answered request leaves a kept-alive upstream connection.
    expect((await h.call('/mtls/warm', { cert: h.pki.client1, headers })).status).toBe(200);
    up.behaviour = 'hang';
    const before = up.received.length;
    const t0 = performance.now();
    const r = await h.call('/mtls/slow', { cert: h.pki.client1, headers });
    const elapsed = performance.now() - t0;
    expect(r.status).toBe(504);
    // The upstream got the request once: a timeout is not a stale-connection reset.
    expect(up.received.length - before).toBe(1);
    expect(elapsed).toBeLessThan(TIMEOUT_MS * 1.5);
  }, 10_000);
});
