// Pins (from a review of dependency faults) behaviours nobody tested (these pass): a bounded loop of upstream faults leaves no
// socket or timer behind and the gateway serves normally after it; an issuer JWKS that drips its body,
// answers HTML or a huge body fails closed (503 + Retry-After, the log line naming the JWKS) within
// http_timeout_ms and the gateway recovers by itself once the JWKS answers again.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse } from '../support/client.js';
import { startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { testPki } from '../support/pki.js';
import { upstreamAt } from '../support/upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a bounded loop of upstream faults', () => {
  let onData: (s: Socket) => void = () => undefined;
  const sockets = new Set<Socket>();
  const up = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', () => onData(s));
  });
  let h: Harness;
  let token: string;
  const resources = (): Record<string, number> => {
    const c: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) c[r] = (c[r] ?? 0) + 1;
    return c;
  };
  const get = async (path: string): Promise<number> =>
    parseRawResponse((await h.raw(`GET ${path} HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`, 3000)).response).status;
  beforeAll(async () => {
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    h = await startHarness({
      upstream: upstreamAt((up.address() as AddressInfo).port),
      routes: [{ id: 'mtls', match: { methods: ['GET'], path_prefix: '/mtls' }, auth: { binding: 'mtls' }, upstream: { timeout_ms: 300 } }],
    });
    token = await h.issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  });
  afterAll(async () => {
    await h?.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => up.close(() => r()));
  });

  it('reset / mid-body reset / hang / garbage, 20 each: 502, cut, 504, 502; then no extra socket or timer and normal service', async () => {
    const ok = (s: Socket): void => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    onData = ok;
    expect(await get('/mtls/warm')).toBe(200);
    // Past the upstream pool's 4 s idle timeout: the warm connection is gone too.
    await sleep(4500);
    const before = resources();
    const upstreamBefore = sockets.size;
    const faults: [string, (s: Socket) => void, number][] = [
      ['reset', (s) => s.resetAndDestroy(), 502],
      ['mid', (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok', () => s.destroy()), 200],
      ['hang', () => undefined, 504],
      ['garbage', (s) => s.write('SSH-2.0-x\r\n\r\n'), 502],
    ];
    for (let round = 0; round < 4; round++) {
      for (const [name, f, want] of faults) {
        onData = f;
        const got = await Promise.all(Array.from({ length: 5 }, (_, i) => get(`/mtls/${name}${i}`)));
        expect(got).toEqual(Array(5).fill(want));
      }
    }
    onData = ok;
    expect(await get('/mtls/after')).toBe(200);
    await sleep(4500);
    expect(resources()).toEqual(before);
    expect(sockets.size).toBe(upstreamBefore);
  }, 40_000);
});

describe('an issuer JWKS that misbehaves while the AS rotates', () => {
  const HTTP_TIMEOUT_MS = 500;
  let mode: 'ok' | 'drip' | 'html' | 'huge' = 'ok';
  let issuer: TestIssuer;
  let server: HttpsServer;
  let h: Harness;
  const timers = new Set<NodeJS.Timeout>();
  beforeAll(async () => {
    const pki = await testPki();
    issuer = await startIssuer({ pki });
    server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
      const body = JSON.stringify({ keys: issuer.keys.map((k) => k.jwk) });
      if (mode === 'ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      if (mode === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      if (mode === 'huge') return void res.writeHead(200, { 'content-type': 'application/json' }).end(body + ' '.repeat(3 * 1024 * 1024));
      // One byte every 50 ms: never http_timeout_ms of silence.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      let i = 0;
      const t = setInterval(() => {
        if (res.destroyed || i >= body.length) return void clearInterval(t);
        res.write(body.slice(i, ++i));
      }, 50);
      timers.add(t);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    h = await startHarness({
      issuer,
      patch: (c) => {
        c.issuers.main.jwks_uri = `https://127.0.0.1:${port}/jwks`;
        c.issuers.main.http_timeout_ms = HTTP_TIMEOUT_MS;
        c.issuers.main.jwks_refetch_cooldown_s = 1;
      },
    });
    for (let i = 0; i < 100 && (await h.gw.notReady()) !== undefined; i++) await sleep(20);
  });
  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    await h?.close();
    await issuer?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const m of ['drip', 'html', 'huge'] as const) {
    it(`${m}: a token of the new key -> 503 + Retry-After within http_timeout_ms, never forwarded; 200 once the JWKS answers`, async () => {
      await sleep(1100); // outside the refetch cooldown
      mode = m;
      await issuer.rotate();
      const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
      const call = () => h.call('/mtls/1', { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`]] });
      const forwarded = h.upstream.received.length;
      const t0 = performance.now();
      const r = await call();
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toMatch(/^\d+$/);
      expect(performance.now() - t0).toBeLessThan(HTTP_TIMEOUT_MS + 500);
      expect(h.upstream.received.length).toBe(forwarded);
      const failed = h.logLines().filter((l) => l.msg === 'jwks fetch failed').at(-1);
      expect(failed).toMatchObject({ issuer: 'main' });
      expect(String(failed?.detail)).toMatch(/^JWKS for /);
      mode = 'ok';
      await sleep(1100);
      expect((await call()).status).toBe(200);
    }, 20_000);
  }
});
