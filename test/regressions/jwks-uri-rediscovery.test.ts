// Found in review (fixed; the test failed before): JWT-3, JWT-4, E9 recovery. A jwks_uri discovered from
// the AS metadata was kept for the life of the process: when the AS moved its JWKS (new jwks_uri in its
// metadata, the old URL 404), every token of a key rotated in afterwards got 503 until a restart. Now a
// failed fetch of a discovered jwks_uri rediscovers it on the next attempt (single flight, cooldown).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki, type TestPki } from '../support/pki.js';
import { until } from '../support/redis.js';
import { json, sleep, startFakeAs, type FakeAs } from '../support/fake-as.js';

let pki: TestPki;
let signer: TestIssuer; // only mints tokens and holds the keys
let as: FakeAs; // the AS the gateway talks to
let h: Harness;
let jwksPath = '/old-jwks';
beforeAll(async () => {
  pki = await testPki();
  signer = await startIssuer({ pki });
  as = await startFakeAs({ pki });
  as.handler = (q, res) => {
    const path = (q.url ?? '').split('?')[0] ?? '';
    if (path.startsWith('/.well-known/')) return json(res, 200, { issuer: as.origin, jwks_uri: `${as.origin}${jwksPath}` });
    if (path === jwksPath) return json(res, 200, { keys: signer.keys.map((k) => k.jwk) });
    json(res, 404, { error: 'not_found' });
  };
  h = await startHarness({
    issuer: signer,
    patch: (c) => {
      c.issuers.main = { issuer: as.origin, ca_file: c.issuers.main.ca_file, jwks_refetch_cooldown_s: 1, http_timeout_ms: 500 };
    },
  });
});
afterAll(async () => {
  await h?.close();
  await as?.close();
  await signer?.close();
});

const mint = () => signer.mint({ iss: as.origin, cnf: cnfX5t(pki.client1.x5tS256) });
const call = async () => (await h.call('/mtls/x', { cert: pki.client1, headers: [['Authorization', `Bearer ${await mint()}`]] })).status;

describe('JWT-4 / E9: a discovered jwks_uri that stops working is rediscovered', () => {
  it('the AS moves its JWKS and rotates: tokens of the new key get 200 within 15 s, without a restart', async () => {
    expect(await until(async () => (await call()) === 200, 5000)).toBe(true); // discovered /old-jwks, keys loaded
    jwksPath = '/new-jwks'; // metadata now names /new-jwks; /old-jwks answers 404
    await signer.rotate();
    await sleep(1100); // past the refetch cooldown
    const recovered = await until(async () => (await call()) === 200, 15_000, 500);
    expect({ recovered, newJwksFetched: as.count('/new-jwks') > 0 }).toEqual({ recovered: true, newJwksFetched: true });
  }, 30_000);
});
