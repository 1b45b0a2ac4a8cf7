// Found in review (fixed; the test failed before): README "admin.listen": "`GET /livez`, `/readyz` ..., `/metrics`"; RFC 9110 §9.1 ("All general-purpose
// servers MUST support the methods GET and HEAD") and §15.5.6 ("The origin server MUST generate an
// Allow header field in a 405 response").
// Bug: src/listen/admin-server.ts:17 answers every method but GET with 405, HEAD included, and the 405
// carries no Allow header. A HEAD probe (load balancers and uptime checkers commonly probe with HEAD)
// reads a healthy gateway as failing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { until } from '../support/redis.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await until(async () => (await h.gw.notReady()) === undefined, 5000, 20);
});
afterAll(async () => {
  await h?.close();
});

describe('admin listener methods', () => {
  it('HEAD /livez and HEAD /readyz answer as GET does (200), without a body', async () => {
    const get = await fetch(`${h.adminUrl}/readyz`);
    expect(get.status).toBe(200);
    for (const path of ['/livez', '/readyz']) {
      const r = await fetch(`${h.adminUrl}${path}`, { method: 'HEAD' });
      expect(r.status, path).toBe(200);
      expect(await r.text()).toBe('');
    }
  });

  it('a 405 (POST /metrics) names the allowed methods in Allow', async () => {
    const r = await fetch(`${h.adminUrl}/metrics`, { method: 'POST', body: 'x' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow') ?? '').toMatch(/GET/);
  });

  it('(holds) /metrics, /readyz and /livez are not served on the API port', async () => {
    for (const path of ['/metrics', '/readyz', '/livez']) {
      const r = await h.call(path, { cert: h.pki.client1 });
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain('fapi_gateway_');
    }
  });
});
