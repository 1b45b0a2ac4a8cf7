// Found in review (fixed; the test failed before): a request the gateway could not serve because a
// dependency failed (upstream refused or timed out, JWKS, introspection AS, replay store) was logged at
// info like every routine 401, and nothing else is logged for an upstream outage: level-based alerting
// (level >= warn) never saw an API outage behind the gateway. Now decision "error" lines are warn.
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t } from '../support/issuer.js';
import { upstreamAt } from '../support/upstream.js';

let h: Harness;
beforeAll(async () => {
  // A port with nothing listening on it: connection refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  h = await startHarness({ upstream: upstreamAt(port) });
});
afterAll(async () => {
  await h?.close();
});

describe('level of dependency-failure lines', () => {
  it('upstream down: the 502 line is at warn or error, not info', async () => {
    const id = '6e2f1d4b-3c5a-4f7b-9d0e-1b2c3d4e5f60';
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'accounts' });
    const r = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', id]] });
    expect(r.status).toBeGreaterThanOrEqual(500);
    const line = await logFor(h, id);
    expect(line).toMatchObject({ decision: 'error' });
    expect(line?.level, JSON.stringify(line)).toBe('warn');
  });
});
