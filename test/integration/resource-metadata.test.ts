// PRM-1..PRM-6 (RFC 9728) over real TLS: the gateway serves its own metadata without a token or a
// client certificate, and 401 challenges point at it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cnfX5t } from '../support/issuer.js';
import { AUDIENCE, logFor, startHarness, type Harness } from '../support/gateway.js';
import { challenges, expectErrorContract } from '../support/contract.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
let h: Harness;
let off: Harness;
beforeAll(async () => {
  h = await startHarness({ patch: (c) => (c.resource_metadata = { resource_name: 'Test bank API', max_age_s: 600 }) });
  off = await startHarness({ issuer: h.issuer, upstream: h.upstream });
});
afterAll(async () => {
  await off?.close();
  await h?.close();
});

describe('RFC 9728 protected resource metadata (PRM-*)', () => {
  it('PRM-1 / PRM-2 / PRM-4 / PRM-6: GET without a token or client certificate -> 200 JSON, resource = the identifier, cached', async () => {
    const iid = randomUUID();
    const before = h.upstream.received.length;
    const r = await h.call(WELL_KNOWN, { headers: [['x-fapi-interaction-id', iid]] });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('max-age=600');
    // Public, like OIDC discovery: a browser client on any origin may read it (found in review).
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['x-fapi-interaction-id']).toBe(iid);
    const doc = r.json() as Record<string, unknown>;
    expect(doc.resource).toBe(AUDIENCE);
    expect(doc).toMatchObject({
      authorization_servers: [h.issuer.issuer],
      bearer_methods_supported: ['header'],
      tls_client_certificate_bound_access_tokens: true,
      resource_name: 'Test bank API',
    });
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['accounts', 'payments']));
    expect(h.upstream.received.length).toBe(before);
    expect(await logFor(h, iid)).toMatchObject({ decision: 'allow', reason: 'RESOURCE_METADATA', status: 200 });
  });

  it('PRM-1 HEAD gets the headers without a body; other methods and other paths are not metadata', async () => {
    const head = await h.call(WELL_KNOWN, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect((await h.call(WELL_KNOWN, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await h.call(`${WELL_KNOWN}/unknown`)).status).toBe(404);
  });

  it('PRM-5: a 401 challenge carries resource_metadata on every scheme; a 403 does not', async () => {
    const r = await h.call('/accounts/1');
    expectErrorContract(r, 401, 'unauthorized');
    const url = `${AUDIENCE}${WELL_KNOWN}`;
    for (const c of challenges(r)) expect(c).toContain(`resource_metadata="${url}"`);
    expect(challenges(r)).toHaveLength(2);
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256), scope: 'other' });
    const forbidden = await h.call('/accounts/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
    expectErrorContract(forbidden, 403, 'insufficient_scope');
    for (const c of challenges(forbidden)) expect(c).not.toContain('resource_metadata');
  });

  it('without resource_metadata in the config: no document (404) and no resource_metadata in challenges', async () => {
    expect((await off.call(WELL_KNOWN)).status).toBe(404);
    const r = await off.call('/accounts/1');
    expect(r.status).toBe(401);
    for (const c of challenges(r)) expect(c).not.toContain('resource_metadata');
  });
});
