// Found in review (fixed; the test failed before): INT-8. When the breaker began to count outages only,
// every 4xx but 404/429 was taken as "about one token", 401/403 included: the AS refusing the gateway's
// own client authentication (rotated key, wrong client_id) fails every call, yet reset the breaker, so
// every new token and every retry went to the AS at full request rate. Only a 400 is about one token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../support/fake-as.js';
import { expect503, startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
beforeAll(async () => {
  w = await startOpaqueWorld();
  w.as.handler = (_q, res) => json(res, 401, { error: 'invalid_client' });
});
afterAll(async () => {
  await w?.close();
});

describe('INT-8: the AS refusing the gateway itself (401 invalid_client) is paced by the breaker', () => {
  it('12 requests within the open window reach the AS at most 5 times', async () => {
    const before = w.as.count('/introspect');
    for (let i = 0; i < 12; i++) expect503(await w.call(`tok-${i}`));
    expect(w.as.count('/introspect') - before).toBeLessThanOrEqual(5);
  });
});
