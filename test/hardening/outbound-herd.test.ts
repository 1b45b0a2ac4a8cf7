// Review (outbound dependencies), pins behaviour nobody had tested (passes): 100 requests at once while
// the issuer's metadata and JWKS answer slowly (the first fetch, jwks_uri discovered) cost one metadata
// and one JWKS fetch, not one per request (JWT-4, Q-13); 100 requests at once with the same opaque token
// while the AS is slow cost one introspection call (INT-6: identical tokens share one call).
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { json } from '../support/fake-as.js';
import { startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

const N = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('herds while a dependency is slow', () => {
  let issuer: TestIssuer | undefined;
  let h: Harness | undefined;
  let w: OpaqueWorld | undefined;
  afterAll(async () => {
    await h?.close();
    await issuer?.close();
    await w?.close();
  });

  it(`${N} requests at once during a slow first fetch (discovery + JWKS, 600 ms each): 1 metadata and 1 JWKS fetch, all 200`, async () => {
    issuer = await startIssuer({ pki: await testPki() });
    issuer.mode = 'slow';
    issuer.slowMs = 600;
    h = await startHarness({ issuer, patch: (c) => delete c.issuers.main.jwks_uri });
    const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => h!.call(`/mtls/${i}`, { cert: h!.pki.client1, headers: [['Authorization', `Bearer ${token}`]] })));
    expect(rs.map((r) => r.status)).toEqual(Array(N).fill(200));
    expect({ metadata: issuer.metadataFetches, jwks: issuer.jwksFetches }).toEqual({ metadata: 1, jwks: 1 });
  }, 30_000);

  it(`${N} requests at once with one opaque token while the AS takes 400 ms: one introspection call, all 200`, async () => {
    w = await startOpaqueWorld({ timeout_ms: 2000 });
    const world = w;
    world.as.handler = (_q, res) => void setTimeout(() => json(res, 200, world.active()), 400);
    const rs = await Promise.all(Array.from({ length: N }, () => world.call('same-token')));
    expect(rs.map((r) => r.status)).toEqual(Array(N).fill(200));
    // Requests still in their TLS handshake when the answer came would make a second call (cache_max_s 0 here).
    expect(world.as.count('/introspect')).toBeLessThanOrEqual(2);
    await sleep(10);
  }, 30_000);
});
