// Found in the newcomer walk-through (fixed; the test failed before): on SIGTERM the README promises that
// requests in flight are finished "and answered with Connection: close", but only requests arriving
// during the drain were; one already being served was answered keep-alive, so its client would send its
// next request on a connection about to be cut. Both ways a response is written are checked: the
// upstream's answer, and the gateway's own refusal (an upstream timeout) after the drain began.
import { Agent } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { request, type TestResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { until } from '../support/redis.js';

let h: Harness | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  agent?.destroy();
  await h?.close();
  h = undefined;
});

/** A request on a keep-alive connection (a client that means to reuse it), and the drain begun while it is in flight. */
async function inFlightThenDrain(path: string): Promise<TestResponse> {
  const g = h as Harness;
  agent = new Agent({ keepAlive: true });
  const token = await g.issuer.mint({ cnf: cnfX5t(g.pki.client1.x5tS256) });
  const before = g.upstream.received.length;
  const pending = request(g.url(path), {
    ca: g.pki.ca.certPem,
    servername: 'localhost',
    cert: g.pki.client1.certPem,
    key: g.pki.client1.keyPem,
    agent,
    headers: [['Authorization', `Bearer ${token}`]],
  });
  expect(await until(async () => g.upstream.received.length > before, 3000, 10)).toBe(true);
  const closed = g.gw.close(5000);
  const r = await pending;
  await closed;
  return r;
}

describe('graceful shutdown: a response started during the drain says Connection: close', () => {
  it('the upstream answer of a request in flight', async () => {
    h = await startHarness();
    h.upstream.delayMs = 300;
    const r = await inFlightThenDrain('/mtls/in-flight');
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
  });

  it("the gateway's own refusal of a request in flight (the upstream timed out)", async () => {
    h = await startHarness({ routes: [{ id: 'slow', match: { methods: ['GET'], path_prefix: '/slow' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: 300 } }] });
    h.upstream.behaviour = 'hang';
    const r = await inFlightThenDrain('/slow/x');
    expect(r.status).toBe(504);
    expect(r.headers.connection).toBe('close');
  });

  it('control: without a drain, the same connection is kept alive', async () => {
    h = await startHarness();
    agent = new Agent({ keepAlive: true });
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await request(h.url('/mtls/x'), { ca: h.pki.ca.certPem, servername: 'localhost', cert: h.pki.client1.certPem, key: h.pki.client1.keyPem, agent, headers: [['Authorization', `Bearer ${token}`]] });
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('keep-alive');
  });
});
