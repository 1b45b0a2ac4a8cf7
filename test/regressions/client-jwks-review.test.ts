// Found in review (fixed; each test failed before): keys from clients' jwks_uri (SIG-2), end to end
// over real TLS with a directory host on loopback.
// - A key whose key_ops exclude "verify" verified requests (jose, which checks the issuers' keys, refuses it).
// - A reload that changed only client_jwks.http_timeout_ms (likely during a directory incident) dropped
//   every client's held keys: signed requests went from verified to 503 while the directory was down.
// - (found while fixing the above) a refused reload applied its new timings to the serving key caches.
// - 150 clients behind client_jwks.ca_file stalled the event loop for seconds at start (a TLS context
//   built from ~120 roots per connection), and the stall made fetches time out against a healthy host.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/cli.js';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { edKey, mtlsReq, sign, startJwksHost, type ClientKey, type JwksHost, type Req } from '../support/http-sig.js';

const SIGNED = { id: 'signed', match: { methods: ['GET', 'POST'], path_prefix: '/signed' }, auth: { binding: 'mtls', signed_requests: true } };
const PATH = '/directory/client-1.jwks';

let host: JwksHost;
let h: Harness;
let sig: ClientKey;
let enc: ClientKey;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const until = (pred: () => boolean, ms: number): Promise<void> => eventually(async () => pred(), ms);
async function send(req: Req): Promise<{ status: number; line: Record<string, any> | undefined }> {
  const iid = randomUUID();
  const r = await h.call(req.path, { method: req.method, cert: h.pki.client1, headers: [...req.headers, ['x-fapi-interaction-id', iid]] });
  return { status: r.status, line: await logFor(h, iid) };
}
const clientJwks = (c: Record<string, any>, extra: Record<string, unknown> = {}): void => {
  c.http_signatures = { clients: { 'client-1': { jwks_uri: host.url(PATH) } }, client_jwks: { ca_file: c.issuers.main.ca_file, ...extra } };
};

beforeAll(async () => {
  sig = edKey('sig-1');
  enc = edKey('enc-only');
  host = await startJwksHost();
  host.docs.set(PATH, { keys: [sig.jwk, { ...enc.jwk, key_ops: ['encrypt'] }] });
  h = await startHarness({ routes: [SIGNED], patch: (c) => clientJwks(c) });
  await until(() => h.logLines().some((l) => l.msg === 'client jwks fetched'), 5000);
});
afterAll(async () => {
  await h?.close();
  await host?.close();
});

describe('SIG-2 jwks_uri keys', () => {
  it('a key whose key_ops do not include verify is skipped: its signature is refused (401), never forwarded', async () => {
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/ok'), sig))).status).toBe(200);
    const before = h.upstream.received.length;
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/enc'), enc))).status).toBe(401);
    expect(h.upstream.received.length).toBe(before);
    expect(h.logLines().find((l) => l.msg === 'client jwks fetched')?.detail).toMatch(/skipped \("enc-only": key_ops must include verify\)/);
  });

  it('Q-13: a reload that changes only a fetch setting during a directory outage keeps the held keys verifying', async () => {
    host.docs.delete(PATH); // 404 from now on
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/a'), sig))).status).toBe(200);
    h.reload((c) => clientJwks(c, { http_timeout_ms: 5000 }));
    const r = await send(await sign(await mtlsReq(h, 'GET', '/signed/b'), sig));
    expect(r.status, `${r.line?.reason} ${r.line?.detail}`).toBe(200);
  });

  it('a refused reload leaves the serving keys\' timings alone (its new settings are applied only once it serves)', async () => {
    host.docs.set(PATH, { keys: [sig.jwk] });
    h.reload((c) => clientJwks(c, { refetch_cooldown_s: 1 }));
    expect(() => h.reload((c) => {
      clientJwks(c, { refetch_cooldown_s: 3600 });
      c.issuers.main.ca_file = '/nonexistent/ca.pem';
    })).toThrow();
    const before = host.fetches.get(PATH) ?? 0;
    await sleep(1100);
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/u1'), edKey('unknown-1')))).status).toBe(401);
    await sleep(1100);
    expect((await send(await sign(await mtlsReq(h, 'GET', '/signed/u2'), edKey('unknown-2')))).status).toBe(401);
    // Two unknown keyids more than the serving cooldown (1 s) apart: two fetches, not one (3600 s).
    expect(host.fetches.get(PATH)).toBe(before + 2);
  });

  it('150 clients behind client_jwks.ca_file: all fetched at start, the event loop never held for long', async () => {
    const N = 150;
    for (let i = 0; i < N; i++) host.docs.set(`/directory/tpp-${i}.jwks`, { keys: [edKey(`k-${i}`).jwk] });
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const many = await startHarness({
      routes: [SIGNED],
      patch: (c) => {
        const clients: Record<string, unknown> = {};
        for (let i = 0; i < N; i++) clients[`tpp-${i}`] = { jwks_uri: host.url(`/directory/tpp-${i}.jwks`) };
        c.http_signatures = { clients, client_jwks: { ca_file: c.issuers.main.ca_file } };
      },
    });
    try {
      const outcomes = (): Record<string, any>[] => many.logLines().filter((l) => l.msg === 'client jwks fetched' || l.msg === 'client jwks fetch failed');
      await until(() => outcomes().length >= N, 30_000);
      lag.disable();
      expect(outcomes().filter((l) => l.msg === 'client jwks fetch failed')).toEqual([]);
      expect(lag.max / 1e6).toBeLessThan(500);
    } finally {
      await many.close();
    }
  }, 60_000);
});
