// Traceability gaps (traceability review; these passed when written) that need their own gateway config: the outbound TLS floor (TLS-11),
// RS256 only where an issuer lists it, and the DPoP alg allow-list advertised as configured
// (DPOP-4, DPOP-29).
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenges, expectErrorContract } from '../support/contract.js';
import { dpopKey, proof } from '../support/dpop.js';
import { PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { cnfJkt, cnfX5t, startIssuer } from '../support/issuer.js';
import { testPki, type TestPki } from '../support/pki.js';

let pki: TestPki;
/** An HTTPS server that speaks TLS 1.0/1.1 only (valid certificate from the test CA). */
let oldTls: Server;
let oldTlsPort: number;
let oldTlsHits = 0;

beforeAll(async () => {
  pki = await testPki();
  oldTls = createHttpsServer(
    { cert: pki.server.certPem, key: pki.server.keyPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'ALL:@SECLEVEL=0' },
    (_req, res) => {
      oldTlsHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    },
  );
  oldTls.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => oldTls.listen(0, '127.0.0.1', r));
  oldTlsPort = (oldTls.address() as AddressInfo).port;
});
afterAll(async () => {
  oldTls?.closeAllConnections();
  await new Promise<void>((r) => oldTls?.close(() => r()));
});

/** Control: this server does answer a client that allows TLS 1.0/1.1 (so a refusal is the gateway's floor). */
function controlFetch(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: oldTlsPort, path: '/jwks', ca: pki.ca.certPem, servername: 'localhost', minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0', agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS-11: outbound TLS is 1.2 or later', () => {
  it('TLS-11: an issuer JWKS served over TLS 1.1 only -> 503 (fail closed), never fetched; an upstream on TLS 1.1 only -> 502', async () => {
    expect(await controlFetch(), 'control: the TLS 1.1 server answers an old client').toBe(200);
    const hitsAfterControl = oldTlsHits;
    const issuer = await startIssuer({ pki });
    const h = await startHarness({
      issuer,
      routes: [
        { id: 'old-jwks', match: { methods: ['GET'], path_prefix: '/old-jwks' }, auth: { issuers: ['old'], binding: 'mtls' } },
        { id: 'old-upstream', match: { methods: ['GET'], path_prefix: '/old-up' }, auth: { binding: 'mtls' }, upstream: { url: `https://localhost:${oldTlsPort}`, ca_file: undefined } },
      ],
      patch: (c) => {
        // Same issuer identity under another name needs another URL: the path variant of the test issuer.
        c.issuers.old = { issuer: `${issuer.issuer}/old`, jwks_uri: `https://localhost:${oldTlsPort}/jwks`, ca_file: c.issuers.main.ca_file };
        c.routes[1].upstream.ca_file = c.issuers.main.ca_file;
      },
    });
    try {
      const before = h.upstream.received.length;
      const t1 = await issuer.mint({ iss: `${issuer.issuer}/old`, cnf: cnfX5t(pki.client1.x5tS256) });
      const r1 = await h.call('/old-jwks/1', { cert: pki.client1, headers: [['Authorization', `Bearer ${t1}`]] });
      expectErrorContract(r1, 503, 'temporarily_unavailable');
      expect(r1.headers['retry-after']).toMatch(/^\d+$/);
      const t2 = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
      const r2 = await h.call('/old-up/1', { cert: pki.client1, headers: [['Authorization', `Bearer ${t2}`]] });
      expectErrorContract(r2, 502, 'bad_gateway');
      expect(oldTlsHits, 'no HTTP request ever reached the TLS 1.1 server').toBe(hitsAfterControl);
      expect(h.upstream.received.length).toBe(before);
    } finally {
      await h.close();
      await issuer.close();
    }
  });
});

describe('Q-6: RS256 only where an issuer lists it, and never on FAPI routes', () => {
  it('Q-6: an issuer listing RS256 has its RS256 tokens accepted on a non-fapi route (RFC 9068 §2.1 support)', async () => {
    const issuer = await startIssuer({ pki, alg: 'RS256' });
    const h = await startHarness({
      issuer,
      routes: [{ id: 'legacy', profile: 'non-fapi', match: { methods: ['GET'], path_prefix: '/legacy' }, auth: { binding: 'mtls' } }],
      patch: (c) => (c.issuers.main.algorithms = ['RS256']),
    });
    try {
      const t = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) });
      expect(JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).alg).toBe('RS256');
      const r = await h.call('/legacy/1', { cert: pki.client1, headers: [['Authorization', `Bearer ${t}`]] });
      expect(r.status).toBe(200);
    } finally {
      await h.close();
      await issuer.close();
    }
  });
  it('Q-6: the same config with a fapi2 route is refused at load', async () => {
    const issuer = await startIssuer({ pki, alg: 'RS256' });
    try {
      await expect(
        startHarness({
          issuer,
          routes: [{ id: 'fapi', match: { methods: ['GET'], path_prefix: '/fapi' }, auth: { binding: 'mtls' } }],
          patch: (c) => (c.issuers.main.algorithms = ['RS256', 'ES256']),
        }),
      ).rejects.toThrow(/RS256/);
    } finally {
      await issuer.close();
    }
  });
});

describe('DPOP-4 / DPOP-29: the configured allow-list is what is enforced and advertised', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ patch: (c) => (c.dpop = { ...c.dpop, algorithms: ['ES256'] }) });
  });
  afterAll(async () => {
    await h?.close();
  });
  it('DPOP-29: with dpop.algorithms [ES256], every DPoP challenge says algs="ES256"', async () => {
    const r = await h.call('/dpop/1');
    expectErrorContract(r, 401, 'unauthorized');
    expect(challenges(r)).toEqual(['DPoP realm="api.test", algs="ES256"']);
  });
  it('DPOP-4: a PS256 proof, allowed by default, is refused -> 401 invalid_dpop_proof with algs="ES256"; an ES256 proof -> 200', async () => {
    const ps = await dpopKey('PS256');
    const token = await h.issuer.mint({ cnf: cnfJkt(ps.jkt) });
    const before = h.upstream.received.length;
    const r = await h.call('/dpop/1', { headers: [['Authorization', `DPoP ${token}`], ['DPoP', await proof(ps, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/1`, token })]] });
    expectErrorContract(r, 401, 'invalid_dpop_proof');
    expect(challenges(r)).toEqual([expect.stringMatching(/^DPoP realm="api.test", error="invalid_dpop_proof", error_description="[^"]+", algs="ES256"$/)]);
    expect(h.upstream.received.length).toBe(before);
    const es = await dpopKey('ES256');
    const t2 = await h.issuer.mint({ cnf: cnfJkt(es.jkt) });
    const ok = await h.call('/dpop/1', { headers: [['Authorization', `DPoP ${t2}`], ['DPoP', await proof(es, { htm: 'GET', htu: `${PUBLIC_ORIGIN}/dpop/1`, token: t2 })]] });
    expect(ok.status).toBe(200);
  });
});

describe('Q-3 max_token_age_s and Q-10 extra_token_types (issuer options no test exercised)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      patch: (c) => {
        c.issuers.main.max_token_age_s = 600;
        c.issuers.main.extra_token_types = ['JWT'];
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });
  const now = (): number => Math.floor(Date.now() / 1000);
  const call = (token: string) => h.call('/accounts/1', { cert: pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
  async function refused(token: string): Promise<void> {
    const before = h.upstream.received.length;
    const r = await call(token);
    expectErrorContract(r, 401, 'invalid_token');
    expect(challenges(r)[0]).toMatch(/^Bearer realm="api.test", error="invalid_token"/);
    expect(h.upstream.received.length).toBe(before);
  }
  it('Q-3: a token whose exp - iat is over max_token_age_s -> 401 invalid_token; exactly max_token_age_s -> 200', async () => {
    await refused(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256), iat: now(), exp: now() + 601 }));
    expect((await call(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256), iat: now(), exp: now() + 600 }))).status).toBe(200);
  });
  it('Q-3: an old iat is no way round it (exp - iat counts, not exp - now)', async () => {
    await refused(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256), iat: now() - 3000, exp: now() + 60 }));
  });
  it('Q-10: a typ the issuer lists (JWT, also as application/jwt) -> 200; another typ, or none, still -> 401', async () => {
    for (const typ of ['JWT', 'application/jwt']) {
      expect((await call(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) }, { typ }))).status, typ).toBe(200);
    }
    await refused(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) }, { typ: 'id_token+jwt' }));
    await refused(await h.issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256) }, { typ: null }));
  });
});

describe('PRM-3: the members of a DPoP-only resource (asserted only in unit tests before)', () => {
  it('PRM-3: dpop_bound_access_tokens_required and the DPoP algs; no mTLS member; no empty or null member', async () => {
    const h = await startHarness({
      routes: [
        { id: 'dpop-api', match: { methods: ['GET'], path_prefix: '/dpop-api' }, auth: { audience: 'https://api.test/dpop-api', binding: 'dpop' } },
        { id: 'mtls-api', match: { methods: ['GET'], path_prefix: '/mtls-api' }, auth: { audience: 'https://api.test/mtls-api', binding: 'mtls', scopes: { all_of: ['accounts'] } } },
      ],
      patch: (c) => (c.resource_metadata = {}),
    });
    try {
      const noEmpty = (doc: Record<string, unknown>): void => {
        for (const [k, v] of Object.entries(doc)) {
          expect(v, k).not.toBeNull();
          if (Array.isArray(v)) expect(v.length, k).toBeGreaterThan(0);
        }
      };
      const d = await h.call('/.well-known/oauth-protected-resource/dpop-api');
      expect(d.status).toBe(200);
      const dpopDoc = d.json() as Record<string, unknown>;
      expect(dpopDoc).toMatchObject({
        resource: 'https://api.test/dpop-api',
        authorization_servers: [h.issuer.issuer],
        bearer_methods_supported: ['header'],
        dpop_bound_access_tokens_required: true,
        dpop_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA', 'Ed25519'],
      });
      expect(dpopDoc).not.toHaveProperty('tls_client_certificate_bound_access_tokens');
      expect(dpopDoc).not.toHaveProperty('scopes_supported');
      noEmpty(dpopDoc);
      const m = (await h.call('/.well-known/oauth-protected-resource/mtls-api')).json() as Record<string, unknown>;
      expect(m).toMatchObject({ resource: 'https://api.test/mtls-api', tls_client_certificate_bound_access_tokens: true, scopes_supported: ['accounts'] });
      expect(m).not.toHaveProperty('dpop_bound_access_tokens_required');
      expect(m).not.toHaveProperty('dpop_signing_alg_values_supported');
      noEmpty(m);
    } finally {
      await h.close();
    }
  });
});
