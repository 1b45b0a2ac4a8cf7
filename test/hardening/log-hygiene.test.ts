// TOK-10 / HDR-2 under a full mixed suite: one gateway (JWT and opaque issuers, a trusted mTLS hop that
// forwards client certificates), every kind of request we can think of (valid and invalid mTLS, DPoP,
// opaque tokens, spoofed headers, tokens in the query, parser-level refusals carrying credentials, an AS
// answering garbage), then every log line is searched for every secret that went through the gateway:
// access tokens (whole, payload and signature segments), DPoP proofs, the gateway's own client assertions,
// certificate bodies (PEM lines and the base64 DER of Client-Cert) and private key material.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTls } from '../support/client.js';
import { dpopKey, proof, type DpopKey } from '../support/dpop.js';
import { defaultRoutes, PUBLIC_ORIGIN, startHarness, type Harness } from '../support/gateway.js';
import { startIntrospectionAs, type IntrospectionAs } from '../support/introspection-as.js';
import { cnfJkt, cnfX5t } from '../support/issuer.js';
import { testPki, type Pem } from '../support/pki.js';
import { figures } from '../../scripts/lib/hardening-figures.js';

const fig = figures('hardening-log-hygiene');

let h: Harness;
let as: IntrospectionAs;
let key: DpopKey;
let thief: DpopKey;
let gwKeyPem: string;
/** Everything that must never appear in a log line, with a name for the failure message. */
const secrets = new Map<string, string>();
const secret = (name: string, value: string | undefined): void => {
  if (value !== undefined && value.length >= 16) secrets.set(value, name);
};
/** A JWS: whole, and each of its segments (the payload of a token is as good as the token to a reader). */
const jwsSecret = (name: string, jws: string): void => {
  secret(name, jws);
  const [a, b, c] = jws.split('.');
  secret(`${name} (payload segment)`, b);
  secret(`${name} (signature segment)`, c);
  void a; // the protected header is public (alg, kid, jwk)
};
const pemSecret = (name: string, pem: string): void => {
  for (const line of pem.split('\n')) if (/^[A-Za-z0-9+/=]{40,}$/.test(line.trim())) secret(`${name} (PEM line)`, line.trim());
};

beforeAll(async () => {
  const pki = await testPki();
  const es = await generateKeyPair('ES256', { extractable: true });
  as = await startIntrospectionAs({ pki, client: { id: 'gw-logs', auth: 'private_key_jwt', publicKey: es.publicKey } });
  [key, thief] = await Promise.all([dpopKey('ES256'), dpopKey('ES256')]);
  gwKeyPem = await exportPKCS8(es.privateKey);
  const keyDir = await mkdtemp(join(tmpdir(), 'fapi-logs-'));
  const keyFile = join(keyDir, 'gw-logs.key');
  await writeFile(keyFile, gwKeyPem, { mode: 0o600 });
  h = await startHarness({
    routes: [...defaultRoutes(), { id: 'op', match: { methods: ['GET'], path_prefix: '/op' }, auth: { issuers: ['op'] } }],
    patch: (c) => {
      c.issuers.op = {
        issuer: as.issuer,
        ca_file: c.issuers.main.ca_file,
        token_format: 'opaque',
        introspection: { client_id: 'gw-logs', auth: 'private_key_jwt', private_key_file: keyFile, cache_max_s: 0, negative_cache_s: 0, timeout_ms: 500 },
      };
      // client2's TLS connection is a trusted hop (an ingress) that forwards the end client's certificate.
      c.server.forwarded_client_cert = { header: 'client-cert', trusted_peer_certificates: [pki.client2.x5tS256] };
      c.server.tls.client_ca_file = c.issuers.main.ca_file;
    },
  });
  // Key material that exists in this world.
  for (const [n, p] of Object.entries({ client1: pki.client1, client2: pki.client2, selfSigned: pki.selfSigned, server: pki.server, ca: pki.ca }) as [string, Pem][]) {
    pemSecret(`${n} certificate`, p.certPem);
    pemSecret(`${n} private key`, p.keyPem);
    const derB64 = p.der.toString('base64');
    for (let i = 0; i + 48 <= derB64.length; i += 24) secret(`${n} certificate DER (base64 window)`, derB64.slice(i, i + 48));
  }
  pemSecret('gateway introspection private key', gwKeyPem);
  secret('gateway introspection key d', String((await exportJWK(es.privateKey)).d));
  secret('DPoP private key d', String(key.privateJwk.d));
  secret('thief DPoP private key d', String(thief.privateJwk.d));
  secret('issuer signing key d', String((await exportJWK(h.issuer.current.privateKey)).d));
}, 60_000);
afterAll(async () => {
  await h?.close();
  await as?.close();
});

const bearer = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];

describe('TOK-10: no credential, proof, certificate or key in any log line', () => {
  it('a full mixed suite against one gateway, then every log line is searched', async () => {
    const statuses: Record<string, number> = {};
    const call = async (name: string, path: string, opts: Parameters<Harness['call']>[1]) => {
      const r = await h.call(path, opts);
      statuses[`${r.status}`] = (statuses[`${r.status}`] ?? 0) + 1;
      return { name, status: r.status };
    };
    const raw = async (payload: string, cert?: Pem) => {
      const { response } = await rawTls('127.0.0.1', h.port, {
        ca: h.pki.ca.certPem,
        servername: 'localhost',
        ...(cert !== undefined && { cert: cert.certPem, key: cert.keyPem }),
        payload,
        timeoutMs: 2000,
      });
      const s = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
      statuses[`${s}`] = (statuses[`${s}`] ?? 0) + 1;
      return s;
    };
    const c1 = h.pki.client1;
    const c2 = h.pki.client2;
    const mtls = await h.issuer.mint({ cnf: cnfX5t(c1.x5tS256), scope: 'accounts payments' });
    const dpop = await h.issuer.mint({ cnf: cnfJkt(key.jkt), scope: 'accounts payments' });
    const unbound = await h.issuer.mint({});
    const expired = await h.issuer.mint({ cnf: cnfX5t(c1.x5tS256), iat: 1000, exp: 2000 });
    const forged = (await h.issuer.mint({ cnf: cnfX5t(c1.x5tS256) })).replace(/.{8}$/, 'AAAAAAAA');
    const none = await h.issuer.mint({ cnf: cnfX5t(c1.x5tS256) }, { alg: 'none' });
    const opaque = as.issueOpaque({ cnf: cnfX5t(c1.x5tS256), token_type: 'Bearer' });
    const unknownOpaque = createHash('sha256').update('nobody knows me').digest('base64url');
    for (const [n, t] of Object.entries({ mtls, dpop, unbound, expired, forged, none })) jwsSecret(`${n} access token`, t);
    secret('opaque access token', opaque);
    secret('unknown opaque access token', unknownOpaque);
    const proofs: string[] = [];
    const p = async (k: DpopKey, htm: string, path: string, token: string) => {
      const v = await proof(k, { htm, htu: `${PUBLIC_ORIGIN}${path}`, token });
      proofs.push(v);
      jwsSecret('DPoP proof', v);
      return v;
    };

    const results = [
      await call('mTLS valid', '/accounts/1', { cert: c1, headers: [bearer(mtls)] }),
      await call('mTLS no certificate', '/accounts/1', { headers: [bearer(mtls)] }),
      await call('mTLS wrong certificate', '/accounts/1', { cert: c2, headers: [bearer(mtls)] }),
      await call('mTLS self-signed certificate (CA configured)', '/accounts/1', { cert: h.pki.selfSigned, headers: [bearer(mtls)] }),
      await call('mTLS lower-case scheme', '/mtls/1', { cert: c1, headers: [['authorization', `bearer ${mtls}`]] }),
      await call('expired', '/accounts/1', { cert: c1, headers: [bearer(expired)] }),
      await call('bad signature', '/accounts/1', { cert: c1, headers: [bearer(forged)] }),
      await call('alg none', '/accounts/1', { cert: c1, headers: [bearer(none)] }),
      await call('unbound on a FAPI route', '/accounts/1', { cert: c1, headers: [bearer(unbound)] }),
      await call('unbound on binding: none', '/open/1', { headers: [bearer(unbound)] }),
      await call('DPoP valid', '/dpop/1', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', await p(key, 'GET', '/dpop/1', dpop)]] }),
    ];
    const replayed = await p(key, 'GET', '/dpop/2', dpop);
    results.push(
      await call('DPoP first use', '/dpop/2', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', replayed]] }),
      await call('DPoP replay', '/dpop/2', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', replayed]] }),
      await call('DPoP thief key', '/dpop/3', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', await p(thief, 'GET', '/dpop/3', dpop)]] }),
      await call('DPoP wrong htu', '/dpop/4', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', await p(key, 'GET', '/elsewhere', dpop)]] }),
      await call('DPoP-bound as Bearer', '/accounts/1', { headers: [bearer(dpop)] }),
      await call('Bearer with a DPoP proof', '/accounts/1', { cert: c1, headers: [bearer(mtls), ['DPoP', await p(key, 'GET', '/accounts/1', mtls)]] }),
      await call('two DPoP proofs', '/dpop/5', { headers: [['Authorization', `DPoP ${dpop}`], ['DPoP', await p(key, 'GET', '/dpop/5', dpop)], ['DPoP', await p(key, 'GET', '/dpop/5', dpop)]] }),
      await call('two Authorization fields', '/accounts/1', { cert: c1, headers: [bearer(mtls), bearer(dpop)] }),
      await call('token in the query', `/accounts/1?access_token=${mtls}`, { cert: c1 }),
      await call('token in the query and the header', `/accounts/1?access_token=${dpop}`, { cert: c1, headers: [bearer(mtls)] }),
      await call('token in a form body', '/payments', { method: 'POST', cert: c1, headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: `access_token=${mtls}` }),
      await call('token only in Proxy-Authorization', '/accounts/1', { cert: c1, headers: [['Proxy-Authorization', `Bearer ${mtls}`]] }),
      await call('spoofed identity and certificate headers carrying secrets', '/accounts/1', {
        cert: c1,
        headers: [
          bearer(mtls),
          ['X-Authenticated-Subject', dpop],
          ['X-Forwarded-Client-Cert', `Cert="${encodeURIComponent(c1.certPem)}"`],
          ['Client-Cert', `:${c1.der.toString('base64')}:`],
          ['X-SSL-Client-Cert', encodeURIComponent(c2.certPem)],
          ['Forwarded', `for=1.2.3.4;token=${mtls}`],
        ],
      }),
      await call('trusted hop forwards client1 certificate', '/accounts/1', { cert: c2, headers: [bearer(mtls), ['Client-Cert', `:${c1.der.toString('base64')}:`]] }),
      await call('trusted hop forwards a garbage certificate', '/accounts/1', { cert: c2, headers: [bearer(mtls), ['Client-Cert', `:${Buffer.from(mtls).toString('base64')}:`]] }),
      await call('opaque valid', '/op/1', { cert: c1, headers: [bearer(opaque)] }),
      await call('opaque unknown', '/op/1', { cert: c1, headers: [bearer(unknownOpaque)] }),
      await call('opaque in the query', `/op/1?access_token=${opaque}`, { cert: c1 }),
      await call('opaque as DPoP', '/op/1', { headers: [['Authorization', `DPoP ${opaque}`], ['DPoP', await p(key, 'GET', '/op/1', opaque)]] }),
      await call('non-token68 credential', '/accounts/1', { cert: c1, headers: [['Authorization', `Bearer ${mtls} ${dpop}`]] }),
      await call('Basic credentials', '/accounts/1', { cert: c1, headers: [['Authorization', `Basic ${Buffer.from(`user:${mtls}`).toString('base64')}`]] }),
      await call('unknown route with a token', '/admin', { cert: c1, headers: [bearer(mtls)] }),
      await call('ambiguous path with a token', '/accounts/..%2fadmin', { cert: c1, headers: [bearer(mtls)] }),
    );
    as.mode = 'garbage';
    results.push(await call('AS answers garbage', '/op/2', { cert: c1, headers: [bearer(opaque)] }));
    as.mode = 'status:500';
    results.push(await call('AS answers 500', '/op/3', { cert: c1, headers: [bearer(opaque)] }));
    as.mode = 'ok';
    // Parser-level refusals that carry credentials (answered by the listener's clientError path).
    await raw(`POST /mtls/x HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${mtls}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, c1);
    await raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${mtls}\r\nX-Pad: ${'a'.repeat(17 * 1024)}\r\n\r\n`, c1);
    await raw(`GET /accounts/1 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer ${mtls}\r\nDPoP: ${proofs[0]}\r\nBad Header: x\r\n\r\n`, c1);
    await raw(`GE T /accounts/1?access_token=${mtls} HTTP/1.1\r\nHost: api.test\r\n\r\n`, c1);
    // Every client assertion the gateway sent to the AS is its own secret.
    for (const call of as.calls) {
      const a = call.form.get('client_assertion');
      if (a !== null) jwsSecret('gateway client assertion', a);
    }
    expect(results.find((r) => r.name === 'mTLS valid')?.status).toBe(200);
    expect(results.find((r) => r.name === 'DPoP valid')?.status).toBe(200);
    expect(results.find((r) => r.name === 'opaque valid')?.status).toBe(200);
    expect(results.find((r) => r.name === 'trusted hop forwards client1 certificate')?.status).toBe(200);
    expect(results.find((r) => r.name === 'DPoP replay')?.status).toBe(401);

    await new Promise((r) => setTimeout(r, 200));
    const lines = h.logs;
    const scan = (ls: readonly string[]): string[] => {
      const out: string[] = [];
      for (const line of ls) {
        for (const [value, name] of secrets) if (line.includes(value)) out.push(`${name} in: ${line.slice(0, 160)}`);
        if (/-----BEGIN/.test(line)) out.push(`PEM armour in: ${line.slice(0, 160)}`);
        if (/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/.test(line)) out.push(`a JWS in: ${line.slice(0, 160)}`);
        if (/[A-Za-z0-9+/_-]{100,}/.test(line)) out.push(`a long base64 run in: ${line.slice(0, 160)}`);
      }
      return out;
    };
    // The scanner itself finds what it looks for.
    expect(scan([`{"detail":"x ${opaque} y"}`, `{"sig":"${mtls.split('.')[2]}"}`, `{"pem":"${c1.certPem.split('\n')[3]}"}`]).length).toBeGreaterThanOrEqual(3);
    const findings = scan(lines);
    fig.set('log-hygiene', {
      requests: results.length + 4,
      statuses,
      logLines: lines.length,
      secretsSearched: secrets.size,
      findings: findings.length,
    });
    console.log(`log hygiene: ${results.length + 4} requests ${JSON.stringify(statuses)}, ${lines.length} log lines searched for ${secrets.size} secret strings: ${findings.length} found`);
    expect(findings).toEqual([]);
    // One line per request (HDR-2): each refusal is explained by a catalog reason, never an internal error.
    expect(lines.length).toBeGreaterThanOrEqual(results.length);
    expect(h.logLines().filter((l) => l.reason === 'GW_INTERNAL' || l.level === 'error')).toEqual([]);
  }, 60_000);
});
