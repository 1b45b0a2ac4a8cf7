// PRM-6 with TLS-9: under `tls.client_certificate: required`, the RFC 9728 documents are still served to
// connections without a certificate (clients fetch metadata before they have one configured), and
// every API request on such a connection is refused (403 with the route's bare challenges, connection
// closed), never forwarded.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, rawTls } from '../support/client.js';
import { cnfX5t } from '../support/issuer.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { challenges, expectErrorContract } from '../support/contract.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';
type Patch = (c: Record<string, any>) => void;
const metadata: Patch = (c) => (c.resource_metadata = { resource_name: 'Test bank API' });
const required: Patch = (c) => (c.server.tls.client_certificate = 'required');
const withCa: Patch = (c) => (c.server.tls.client_ca_file = c.issuers.main.ca_file);
const all =
  (...ps: Patch[]): Patch =>
  (c) => {
    for (const p of ps) p(c);
  };
const outcome = (p: Promise<{ status: number }>): Promise<number | string> => p.then((r) => r.status, (e: Error & { code?: string }) => `refused: ${e.code ?? e.message}`);

describe('PRM-6 / TLS-9: required client certificate, with a CA', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ patch: all(required, withCa, metadata) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('PRM-6: without a certificate the metadata is served (200), any API request is 403 GW_CLIENT_CERT_REQUIRED and not forwarded', async () => {
    expect((await h.call(WELL_KNOWN)).status).toBe(200);
    const before = h.upstream.received.length;
    const iid = randomUUID();
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    const r = await h.call('/accounts/1', { headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
    expectErrorContract(r, 403, 'client_certificate_required');
    // ERR-5: a 403 carries the route's challenges, bare (PRM-5's metadata URL goes on 401s only).
    expect(challenges(r)).toEqual(['Bearer realm="api.test"', expect.stringMatching(/^DPoP realm="api\.test", algs="[^"]+"$/)]);
    expect(r.headers.connection).toBe('close');
    expect(await outcome(h.call('/open/x', { headers: [['Authorization', `Bearer ${await h.issuer.mint()}`]] }))).toBe(403);
    expect(await outcome(h.call('/no-such-route'))).toBe(404);
    expect(h.upstream.received.length).toBe(before);
    expect(await logFor(h, iid)).toMatchObject({ decision: 'deny', reason: 'GW_CLIENT_CERT_REQUIRED', status: 403, detail: expect.stringContaining('sent none') });
  });

  it('TLS-9: a certificate the client CAs did not issue reads the metadata too, and is refused the API with the reason in the log', async () => {
    expect((await h.call(WELL_KNOWN, { cert: h.pki.selfSigned })).status).toBe(200);
    const iid = randomUUID();
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.selfSigned.x5tS256) });
    const r = await h.call('/mtls/x', { cert: h.pki.selfSigned, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
    expect(r.status).toBe(403);
    expect(await logFor(h, iid)).toMatchObject({ reason: 'GW_CLIENT_CERT_REQUIRED', detail: expect.stringMatching(/not trusted: \w+/) });
  });

  it('control: with a certificate from the client CAs the same requests pass', async () => {
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
    expect((await h.call('/mtls/x', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] })).status).toBe(200);
    expect((await h.call('/accounts/1', { cert: h.pki.client1 })).status).toBe(401);
  });

  it('on one connection: the metadata, then an API request, which is refused and ends the connection', async () => {
    const before = h.upstream.received.length;
    const req = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: api.test\r\n\r\n`;
    const { response, closed } = await rawTls('127.0.0.1', h.port, { ca: h.pki.ca.certPem, servername: 'localhost', payload: req(WELL_KNOWN) + req('/accounts/1') + req(WELL_KNOWN) });
    const first = parseRawResponse(response);
    expect(first.status).toBe(200);
    expect(response.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 403']);
    expect(closed).toBe(true);
    expect(h.upstream.received.length).toBe(before);
  });
});

describe('PRM-6 / TLS-9: required client certificate, without a CA (self-signed certificates bind)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ patch: all(required, metadata) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('no certificate: metadata 200, API 403; any certificate: the API judges the token', async () => {
    expect((await h.call(WELL_KNOWN)).status).toBe(200);
    expect((await h.call('/accounts/1')).status).toBe(403);
    const token = await h.issuer.mint({ cnf: cnfX5t(h.pki.selfSigned.x5tS256) });
    expect((await h.call('/mtls/x', { cert: h.pki.selfSigned, headers: [['Authorization', `Bearer ${token}`]] })).status).toBe(200);
  });
});

describe('PRM-6: resource_metadata.without_client_certificate and reloads', () => {
  it('false keeps the refusal at the handshake, metadata included; a reload switches new connections either way', async () => {
    const h = await startHarness({ patch: all(required, withCa, metadata, (c) => (c.resource_metadata.without_client_certificate = false)) });
    try {
      expect(await outcome(h.call(WELL_KNOWN))).toMatch(/^refused/);
      expect((await h.call(WELL_KNOWN, { cert: h.pki.client1 })).status).toBe(200);
      h.reload(all(required, withCa, metadata));
      expect(await outcome(h.call(WELL_KNOWN))).toBe(200);
      expect(await outcome(h.call('/accounts/1'))).toBe(403);
      h.reload(all(required, withCa)); // no metadata published: nothing to serve without a certificate
      expect(await outcome(h.call(WELL_KNOWN))).toMatch(/^refused/);
      expect(await outcome(h.call('/accounts/1', { cert: h.pki.client1 }))).toBe(401);
    } finally {
      await h.close();
    }
  });

  it('optional: without_client_certificate changes nothing (a certificate-less client reaches the API checks)', async () => {
    const h = await startHarness({ patch: metadata });
    try {
      expect((await h.call('/accounts/1')).status).toBe(401);
    } finally {
      await h.close();
    }
  });
});
