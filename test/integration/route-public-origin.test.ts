// DPOP-10 over real TLS: "the expected URL is the configured public origin *of the route* plus the
// original request path". A route served under a second host name sets its own public_origin: proofs
// for that origin pass there, proofs for the server's origin do not, and other routes keep the server's.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { expectErrorContract } from '../support/contract.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { logFor, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt } from '../support/issuer.js';
import { oneRouteConfig } from '../support/config.js';

const SECOND = 'https://api2.test';
let h: Harness;
let key: DpopKey;
beforeAll(async () => {
  h = await startHarness({
    patch: (c) => {
      c.routes.push({
        id: 'second-host',
        match: { methods: ['GET'], path_prefix: '/two', host: 'api2.test' },
        auth: { issuers: ['main'], audience: 'https://api.test', binding: 'dpop' },
        upstream: { url: c.routes[0].upstream.url },
        // Written with the default port: kept as the origin browsers and clients use.
        public_origin: 'https://api2.test:443',
      });
    },
  });
  key = await dpopKey();
});
afterAll(async () => {
  await h?.close();
});

const dpopCall = async (path: string, htu: string, host: string, iid = randomUUID()) => {
  const token = await h.issuer.mint({ cnf: cnfJkt(key.jkt) });
  return h.call(path, { headers: [['Host', host], ['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu, token })], ['x-fapi-interaction-id', iid]] });
};

describe('routes[].public_origin (DPOP-10)', () => {
  it('DPOP-10 a proof for the route\'s own origin -> 200; the upstream is told that host', async () => {
    const r = await dpopCall('/two/1', `${SECOND}/two/1`, 'api2.test');
    expect(r.status).toBe(200);
    expect(h.upstream.received.at(-1)?.headers['x-forwarded-host']).toBe('api2.test');
  });

  it('DPOP-10 on that route a proof for the server\'s origin -> 401 invalid_dpop_proof, not forwarded', async () => {
    const before = h.upstream.received.length;
    const iid = randomUUID();
    const r = await dpopCall('/two/1', `${PUBLIC_ORIGIN}/two/1`, 'api2.test', iid);
    expectErrorContract(r, 401, 'invalid_dpop_proof');
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_DPOP_PROOF_INVALID' });
    expect(h.upstream.received.length).toBe(before);
  });

  it('DPOP-10 other routes keep server.public_origin', async () => {
    expect((await dpopCall('/dpop/1', `${PUBLIC_ORIGIN}/dpop/1`, 'api.test')).status).toBe(200);
    expect(h.upstream.received.at(-1)?.headers['x-forwarded-host']).toBe('api.test');
    expectErrorContract(await dpopCall('/dpop/1', `${SECOND}/dpop/1`, 'api.test'), 401, 'invalid_dpop_proof');
  });

  it('DPOP-10 a route public_origin that is not an https origin is refused at load', () => {
    const yaml = (o: string): string => oneRouteConfig({ route: `public_origin: "${o}"` });
    for (const o of ['http://api2.test', 'https://api2.test/base', 'https://user@api2.test']) expect(() => parseConfig(yaml(o), 'o.yaml', {})).toThrow(/public_origin/);
  });
});
