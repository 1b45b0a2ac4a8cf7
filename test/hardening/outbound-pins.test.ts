// Review (outbound dependencies), pins behaviour nobody had tested (these pass):
// - IPv6 literals: an issuer jwks_uri at https://[::1]:port (certificate with IP SAN ::1), and http:// and
//   https:// upstreams at [::1] work;
// - an issuer JWKS answering gzip (never asked for), a 302 or a UTF-8 BOM fails closed: 503 + Retry-After, no
//   challenge, a `jwks fetch failed` line saying why;
// - upstream TLS faults are 502 GW_UPSTREAM_UNAVAILABLE with the cause in the log line: a certificate for
//   another name, a TLS 1.0/1.1-only server, a server that requires a client certificate (TLS 1.3 and 1.2),
//   and a DNS name that does not resolve.
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFor, startHarness, type Harness } from '../support/gateway.js';
import { cnfX5t, startIssuer, type TestIssuer } from '../support/issuer.js';
import { issueServerCert, testPki } from '../support/pki.js';
import { randomUUID } from 'node:crypto';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let h: Harness;
let issuer: TestIssuer;
let jwksMode: 'ok' | 'gzip' | '302' | 'bom' = 'ok';
const closers: (() => void)[] = [];
const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  const pki = await testPki();
  issuer = await startIssuer({ pki });
  const v6 = await issueServerCert(pki.ca, { cn: 'v6', ips: ['::1', '127.0.0.1'] });
  const jwks6 = createHttps({ cert: v6.certPem, key: v6.keyPem }, (_q, res) => {
    const body = JSON.stringify({ keys: issuer.keys.map((k) => k.jwk) });
    if (jwksMode === 'gzip') return void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(body));
    if (jwksMode === '302') return void res.writeHead(302, { location: issuer.jwksUri }).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwksMode === 'bom' ? `\ufeff${body}` : body);
  });
  const up6 = createHttp((_q, res) => res.end('v6'));
  const ups6 = createHttps({ cert: v6.certPem, key: v6.keyPem }, (_q, res) => res.end('v6 tls'));
  for (const s of [jwks6, up6, ups6]) {
    await new Promise<void>((r) => s.listen(0, '::1', r));
    closers.push(() => (s.closeAllConnections(), s.close()));
  }
  const wrongName = await issueServerCert(pki.ca, { cn: 'x', dnsNames: ['elsewhere.test'], ips: [] });
  const tlsUpstream = async (opts: Record<string, unknown>): Promise<number> => {
    const s = createHttps({ cert: pki.server.certPem, key: pki.server.keyPem, ...opts }, (_q, res) => res.end('ok'));
    s.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    closers.push(() => (s.closeAllConnections(), s.close()));
    return port(s);
  };
  const faulty: Record<string, number> = {
    'wrong-name': await tlsUpstream({ cert: wrongName.certPem, key: wrongName.keyPem }),
    'tls11-only': await tlsUpstream({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
    'wants-cert-13': await tlsUpstream({ requestCert: true, rejectUnauthorized: true, ca: pki.ca.certPem }),
    'wants-cert-12': await tlsUpstream({ requestCert: true, rejectUnauthorized: true, ca: pki.ca.certPem, maxVersion: 'TLSv1.2' }),
  };
  h = await startHarness({
    issuer,
    routes: [
      { id: 'v6', match: { methods: ['GET'], path_prefix: '/v6' }, auth: { binding: 'mtls' }, upstream: { url: `http://[::1]:${port(up6)}` } },
      { id: 'v6tls', match: { methods: ['GET'], path_prefix: '/v6tls' }, auth: { binding: 'mtls' }, upstream: { url: `https://[::1]:${port(ups6)}`, ca_file: 'CA' } },
      ...Object.entries(faulty).map(([id, p]) => ({ id, match: { methods: ['GET'], path_prefix: `/${id}` }, auth: { binding: 'mtls' }, upstream: { url: `https://127.0.0.1:${p}`, ca_file: 'CA' } })),
      { id: 'nxdomain', match: { methods: ['GET'], path_prefix: '/nxdomain' }, auth: { binding: 'mtls' }, upstream: { url: 'https://no-such-host.invalid' } },
    ],
    patch: (c) => {
      c.issuers.main.jwks_uri = `https://[::1]:${port(jwks6)}/jwks`;
      c.issuers.main.jwks_refetch_cooldown_s = 1;
      for (const r of c.routes) if (r.upstream.ca_file === 'CA') r.upstream.ca_file = c.issuers.main.ca_file;
    },
  });
});
afterAll(async () => {
  await h?.close();
  await issuer?.close();
  for (const c of closers) c();
});

const call = async (path: string) => {
  const iid = randomUUID();
  const token = await issuer.mint({ cnf: cnfX5t(h.pki.client1.x5tS256) });
  const r = await h.call(path, { cert: h.pki.client1, headers: [['Authorization', `Bearer ${token}`], ['x-fapi-interaction-id', iid]] });
  return { r, line: await logFor(h, iid) };
};

describe('outbound: IPv6 literals', () => {
  it('jwks_uri https://[::1]:port, upstreams http://[::1]:port and https://[::1]:port -> 200', async () => {
    expect((await call('/v6/a')).r.body).toBe('v6');
    expect((await call('/v6tls/a')).r.body).toBe('v6 tls');
  });
});

describe('outbound: upstream TLS and DNS faults', () => {
  it.each([
    ['wrong-name', 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['tls11-only', 'EPROTO'],
    ['wants-cert-13', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
    ['wants-cert-12', 'EPROTO'],
    ['nxdomain', 'ENOTFOUND'],
  ])('%s -> 502 GW_UPSTREAM_UNAVAILABLE, the log names %s', async (id, code) => {
    const { r, line } = await call(`/${id}/x`);
    expect(r.status).toBe(502);
    expect(r.json()).toEqual({ error: 'bad_gateway', error_description: expect.any(String) });
    expect(line?.reason).toBe('GW_UPSTREAM_UNAVAILABLE');
    expect(String(line?.detail)).toContain(code);
  });
});

describe('outbound: an issuer JWKS answering oddly fails closed', () => {
  it.each([
    ['gzip', /not JSON/],
    ['302', /answered 302/],
    ['bom', /not JSON/],
  ] as const)('%s -> 503 + Retry-After, no challenge, the log says why', async (mode, why) => {
    jwksMode = mode;
    await issuer.rotate();
    await sleep(1100); // the refetch cooldown
    const { r, line } = await call('/v6/rotated');
    expect({ status: r.status, retryAfter: r.headers['retry-after'], challenge: r.headers['www-authenticate'], reason: line?.reason }).toEqual({
      status: 503,
      retryAfter: '5',
      challenge: undefined,
      reason: 'GW_JWKS_UNAVAILABLE',
    });
    expect(h.logLines().filter((l) => l.msg === 'jwks fetch failed').at(-1)?.detail).toMatch(why);
    jwksMode = 'ok';
  });
});
