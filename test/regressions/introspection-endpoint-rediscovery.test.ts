// Found in review (fixed; the test failed before): INT-1, INT-8, E9 (recovery). An introspection endpoint
// discovered from the AS metadata was kept for the life of the config whatever it answered: when the
// metadata named a wrong endpoint for a while, or the AS moved it, every opaque token got 503 until a
// restart or a config change. Now a discovered endpoint that fails (transport error, 404, 5xx) is
// discovered again on a later attempt, paced by the breaker, and the gateway recovers by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/redis.js';
import { json } from '../support/fake-as.js';
import { startOpaqueWorld, type OpaqueWorld } from '../support/opaque-as-world.js';

let w: OpaqueWorld;
let endpointPath = '/old-introspect';
beforeAll(async () => {
  w = await startOpaqueWorld({ endpoint: undefined });
  w.as.handler = (q, res) => {
    const path = (q.url ?? '').split('?')[0] ?? '';
    if (path.startsWith('/.well-known/')) {
      const ep = `${w.as.origin}${endpointPath}`;
      return json(res, 200, { issuer: w.as.origin, introspection_endpoint: ep, mtls_endpoint_aliases: { introspection_endpoint: ep } });
    }
    if (path === '/new-introspect') return json(res, 200, w.active());
    json(res, 404, { error: 'not_found' });
  };
});
afterAll(async () => {
  await w?.close();
});

describe('INT-1 / E9: a discovered introspection endpoint that stops working is rediscovered', () => {
  it('metadata names a dead endpoint, then the right one: the gateway recovers within 15 s without a restart', async () => {
    const first = await w.call('tok-0');
    expect(first.status).toBe(503); // the advertised endpoint answers 404: fail closed
    expect(w.as.count('/old-introspect')).toBe(1);
    endpointPath = '/new-introspect'; // the AS fixes its metadata
    let n = 0;
    const recovered = await until(async () => (await w.call(`tok-${++n}`)).status === 200, 15_000, 500);
    expect({ recovered, metadataReread: w.as.count('/.well-known/oauth-authorization-server') > 1 }).toEqual({ recovered: true, metadataReread: true });
  }, 30_000);
});
