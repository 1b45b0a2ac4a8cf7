// SIG-2 with the client's keys behind a jwks_uri (a directory-hosted JWKS), end to end: real TLS to the
// gateway, a real JWKS host on loopback, Ed25519 signatures made by an independent library.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { edKey, mtlsReq, mtlsToken, sign, startJwksHost, type ClientKey, type JwksHost, type Req } from '../support/http-sig.js';

let h: Harness;
let host: JwksHost;
let k1: ClientKey;
let k2: ClientKey;
const TPP = '/directory/client-1.jwks';
const LATE = '/directory/tpp-late.jwks';

const settings = (c: Record<string, any>): void => {
  c.http_signatures = {
    clients: { 'client-1': { jwks_uri: host.url(TPP) }, 'tpp-late': { jwks_uri: host.url(LATE) } },
    client_jwks: { ca_file: c.issuers.main.ca_file, refetch_cooldown_s: 1 },
  };
};

beforeAll(async () => {
  k1 = edKey('k1');
  k2 = edKey('k2');
  host = await startJwksHost();
  // An encryption key under k2's kid: published, but not a signing key.
  host.docs.set(TPP, { keys: [k1.jwk, { ...k2.jwk, use: 'enc' }] });
  h = await startHarness({
    routes: [{ id: 'signed', match: { methods: ['GET', 'POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } }],
    patch: settings,
  });
});
afterAll(async () => {
  await h?.close();
  await host?.close();
});

const metrics = async (): Promise<string> => (await fetch(`${h.adminUrl}/metrics`)).text();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function send(req: Req): Promise<{ status: number; headers: Record<string, unknown>; line: Record<string, any> | undefined }> {
  const iid = randomUUID();
  const r = await h.call(req.path, { method: req.method, cert: h.pki.client1, headers: [...req.headers, ['x-fapi-interaction-id', iid]], ...(req.body && { body: req.body }) });
  return { status: r.status, headers: r.headers, line: await logFor(h, iid) };
}

describe('SIG-2 keys from the client\'s jwks_uri', () => {
  it('fetched at start: a request signed with a published key is verified and forwarded', async () => {
    const before = h.upstream.received.length;
    const r = await send(await sign(await mtlsReq(h, 'GET', '/signed/a'), k1));
    expect(r.status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
    expect(r.line?.signature_keyid).toBe('k1');
    expect(host.fetches.get(TPP)).toBe(1);
    const fetched = h.logLines().find((l) => l.msg === 'client jwks fetched' && l.client_id === 'client-1');
    expect(fetched?.detail).toBe('1 usable keys, 1 skipped ("k2": use must be sig)');
    expect(await metrics()).toContain('fapi_gateway_client_jwks_fetches_total{client="client-1",result="ok"} 1');
  });

  it('a key the document holds only for encryption does not verify (401, no fetch storm)', async () => {
    const r = await send(await sign(await mtlsReq(h, 'GET', '/signed/b'), k2));
    expect(r.status).toBe(401);
    expect(r.line?.reason).toBe('GW_HTTP_SIG_INVALID');
    expect(r.line?.detail).toMatch(/SIG-2 no key "k2" for client "client-1"/);
    expect(r.line?.signature_keyid).toBeUndefined();
  });

  it('rotation: a key added to the document verifies on its first use; a removed one stops', async () => {
    host.docs.set(TPP, { keys: [k1.jwk, k2.jwk] });
    await sleep(1100); // the refetch cooldown since the last fetch
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/c'), k2))).status).toBe(200);
    const fetches = host.fetches.get(TPP) ?? 0;
    expect(fetches).toBeGreaterThanOrEqual(2);
    host.docs.set(TPP, { keys: [k2.jwk] });
    await sleep(1100);
    // An unknown keyid makes the gateway look again: k1 is gone after that.
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/d'), edKey('k-unknown')))).status).toBe(401);
    const gone = await send(await sign(await mtlsReq(h, 'GET', '/signed/e'), k1));
    expect(gone.status).toBe(401);
    expect(gone.line?.detail).toMatch(/no key "k1"/);
    expect(host.fetches.get(TPP)).toBe(fetches + 1);
  });

  it('Q-13: a client whose jwks_uri cannot be fetched gets 503 with Retry-After, nothing forwarded; the gateway stays ready and recovers by itself', async () => {
    const token = await mtlsToken(h, { client_id: 'tpp-late' });
    const req = async (): Promise<Req> => sign({ method: 'GET', path: '/signed/late', headers: [['Authorization', `Bearer ${token}`]] }, k1);
    const before = h.upstream.received.length;
    const r = await send(await req());
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.line).toMatchObject({ decision: 'error', reason: 'GW_CLIENT_JWKS_UNAVAILABLE' });
    expect(r.line?.detail).toMatch(/SIG-2 keys of client "tpp-late" from its jwks_uri: .*answered 404/);
    expect(h.upstream.received.length).toBe(before);
    expect(h.logLines().some((l) => l.msg === 'client jwks fetch failed' && l.client_id === 'tpp-late')).toBe(true);
    // One client's directory entry does not make the gateway unready.
    expect(await h.gw.notReady()).toBeUndefined();
    host.docs.set(LATE, { keys: [k1.jwk] });
    await sleep(1100); // the first-fetch back-off: min(refetch_cooldown_s, 5 s)
    expect((await send(await req())).status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  });

  it('a reload that keeps the client settings keeps the fetched keys (no refetch); a new jwks_uri is fetched', async () => {
    const fetches = host.fetches.get(TPP) ?? 0;
    h.reload((c) => settings(c));
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/f'), k2))).status).toBe(200);
    expect(host.fetches.get(TPP)).toBe(fetches);
    const moved = '/directory/v2/client-1.jwks';
    host.docs.set(moved, { keys: [k1.jwk] });
    h.reload((c) => {
      settings(c);
      c.http_signatures.clients['client-1'] = { jwks_uri: host.url(moved) };
    });
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/g'), k1))).status).toBe(200);
    expect(host.fetches.get(moved)).toBe(1);
  });
});
