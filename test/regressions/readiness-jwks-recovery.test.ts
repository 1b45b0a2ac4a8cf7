// Found in review (fixed; the test failed before): Q-13, readiness. With the AS's JWKS unreachable at
// start, the one warm-up fetch failed and only an API request retried it; a pod that is not ready gets
// no API traffic, so after the AS came back /readyz stayed 503 for good (and /livez 200: never
// restarted). Now each readiness probe retries within the first-fetch back-off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { startIssuer, type TestIssuer } from '../support/issuer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let issuer: TestIssuer;
let h: Harness;
beforeAll(async () => {
  issuer = await startIssuer();
  issuer.mode = 'down';
  h = await startHarness({ issuer, patch: (c) => (c.issuers.main.jwks_refetch_cooldown_s = 1) });
  for (let i = 0; i < 400 && !h.logLines().some((l) => l.msg === 'jwks fetch failed'); i++) await sleep(5);
});
afterAll(async () => {
  await h?.close();
  await issuer?.close();
});

describe('readiness after the JWKS comes back', () => {
  it('JWKS down at start, then up: /readyz turns 200 without any API request (probes only)', async () => {
    const ready = async () => (await fetch(`${h.adminUrl}/readyz`)).status;
    expect(await ready()).toBe(503);
    expect(await (await fetch(`${h.adminUrl}/readyz`)).text()).toContain(`issuer(s) without keys: ${issuer.issuer}`);
    issuer.mode = 'ok';
    // A kubelet probing every second for 10 s; the back-off here is 1 s.
    let status = 0;
    for (let i = 0; i < 10 && status !== 200; i++) {
      await sleep(1000);
      status = await ready();
    }
    expect({ status, jwksFetchesAfterRecovery: issuer.jwksFetches > 1 }).toEqual({ status: 200, jwksFetchesAfterRecovery: true });
  });
});
