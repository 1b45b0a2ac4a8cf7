import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { get as httpsGet, createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createLocalJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRawResponse, rawTls, request, tlsProbe } from './client.js';
import { cnfJkt, cnfX5t, startIssuer, type TestIssuer } from './issuer.js';
import { testPki, writePki, type TestPki } from './pki.js';
import { startUpstream } from './upstream.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await testPki();
});

function fetchJson(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function listen(server: Server | ReturnType<typeof createTlsServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('pki', () => {
  it('certs parse, chain to the CA and carry the right extensions', async () => {
    expect(await testPki()).toBe(pki); // memoised
    const ca = new X509Certificate(pki.ca.certPem);
    expect(ca.ca).toBe(true);
    const server = new X509Certificate(pki.server.certPem);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.publicKey.asymmetricKeyType).toBe('rsa');
    expect(server.checkPrivateKey(createPrivateKey(pki.server.keyPem))).toBe(true);
    for (const c of [pki.client1, pki.client2]) {
      const x = new X509Certificate(c.certPem);
      expect(x.verify(ca.publicKey)).toBe(true);
      expect(x.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
    }
    const self = new X509Certificate(pki.selfSigned.certPem);
    expect(self.verify(self.publicKey)).toBe(true);
    expect(self.checkIssued(ca)).toBe(false);
  });

  it('x5tS256 is base64url(sha256(DER))', () => {
    for (const p of [pki.ca, pki.server, pki.client1, pki.client2, pki.selfSigned]) {
      const raw = new X509Certificate(p.certPem).raw;
      expect(p.der.equals(raw)).toBe(true);
      expect(p.x5tS256).toBe(createHash('sha256').update(raw).digest('base64url'));
      expect(p.x5tS256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('writePki writes PEM files that openssl parses', async () => {
    const f = await writePki();
    try {
      expect(await readFile(f.caFile, 'utf8')).toBe(pki.ca.certPem);
      for (const file of [f.caFile, f.serverCertFile, f.client1CertFile, f.client2CertFile, f.selfSignedCertFile]) {
        expect(execFileSync('openssl', ['x509', '-noout', '-text', '-in', file], { encoding: 'utf8' })).toContain('Certificate:');
      }
      const out = execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', f.caFile, f.serverCertFile, f.client1CertFile], {
        encoding: 'utf8',
      });
      expect(out).toContain(`${f.serverCertFile}: OK`);
      expect(out).toContain(`${f.client1CertFile}: OK`);
    } finally {
      await rm(f.dir, { recursive: true, force: true });
    }
  });

  it('Node TLS accepts the certs with requestCert (CA-issued and self-signed clients)', async () => {
    const server = createTlsServer({
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    server.on('secureConnection', (s: TLSSocket) => {
      const peer = s.getPeerX509Certificate();
      s.end(JSON.stringify({ authorized: s.authorized, x5t: peer ? createHash('sha256').update(peer.raw).digest('base64url') : null }));
    });
    const port = await listen(server);
    const talk = (cert: string, key: string, extra: object = {}) =>
      new Promise<{ authorized: boolean; x5t: string; proto: string | null }>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca.certPem, cert, key, ...extra }, () => {
          let d = '';
          s.on('data', (c: Buffer) => (d += c.toString()));
          s.on('end', () => resolve({ ...JSON.parse(d), proto: s.getProtocol() }));
        });
        s.on('error', reject);
      });
    try {
      const a = await talk(pki.client1.certPem, pki.client1.keyPem);
      expect(a).toMatchObject({ authorized: true, x5t: pki.client1.x5tS256, proto: 'TLSv1.3' });
      const b = await talk(pki.selfSigned.certPem, pki.selfSigned.keyPem);
      expect(b).toMatchObject({ authorized: false, x5t: pki.selfSigned.x5tS256 });
      const c = await talk(pki.client2.certPem, pki.client2.keyPem, {
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
      });
      expect(c).toMatchObject({ authorized: true, x5t: pki.client2.x5tS256, proto: 'TLSv1.2' });
    } finally {
      server.close();
    }
  });
});

describe('issuer', () => {
  let iss: TestIssuer;
  beforeAll(async () => {
    iss = await startIssuer({ pki });
  });
  afterAll(() => iss.close());

  const verify = async (token: string) => {
    const r = await fetchJson(iss.jwksUri, pki.ca.certPem);
    const jwks = createLocalJWKSet(JSON.parse(r.body) as JSONWebKeySet);
    return jwtVerify(token, jwks, { issuer: iss.issuer, audience: 'https://api.test', typ: 'at+jwt' });
  };

  it('serves metadata and JWKS over TLS trusted via the test CA', async () => {
    expect(iss.issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    for (const p of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const m = JSON.parse((await fetchJson(iss.issuer + p, pki.ca.certPem)).body);
      expect(m).toMatchObject({ issuer: iss.issuer, jwks_uri: iss.jwksUri });
    }
    const before = iss.jwksFetches;
    const jwks = JSON.parse((await fetchJson(iss.jwksUri, pki.ca.certPem)).body);
    expect(iss.jwksFetches).toBe(before + 1);
    expect(jwks.keys[0]).toMatchObject({ kid: iss.current.kid, alg: 'ES256', use: 'sig', kty: 'EC' });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it('mints tokens that verify with the published JWKS', async () => {
    const { payload, protectedHeader } = await verify(await iss.mint({ cnf: cnfX5t(pki.client1.x5tS256) }));
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: iss.current.kid });
    expect(payload).toMatchObject({ sub: 'user-1', client_id: 'client-1', scope: 'accounts', cnf: { 'x5t#S256': pki.client1.x5tS256 } });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(typeof payload.jti).toBe('string');
    expect(cnfJkt('abc')).toEqual({ jkt: 'abc' });
  });

  it('claims override/remove, typ null, foreign key, unsigned', async () => {
    const t = await iss.mint({ sub: 'u2', client_id: undefined }, { typ: null, header: { x: 1 } });
    expect(decodeProtectedHeader(t)).toEqual({ alg: 'ES256', kid: iss.current.kid, x: 1 });
    const body = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());
    expect(body.sub).toBe('u2');
    expect('client_id' in body).toBe(false);

    const foreign = await generateKeyPair('ES256');
    await expect(verify(await iss.mint({}, { key: foreign.privateKey }))).rejects.toThrow(/signature/);
    const none = await iss.mint({}, { alg: 'none' });
    expect(none.endsWith('.')).toBe(true);
    expect(decodeProtectedHeader(none).alg).toBe('none');
  });

  it('supports every alg, addKey and rotate', async () => {
    for (const alg of ['PS256', 'EdDSA', 'RS256'] as const) {
      const k = await iss.addKey(alg);
      const { protectedHeader } = await verify(await iss.mint({}, { alg }));
      expect(protectedHeader).toMatchObject({ alg, kid: k.kid });
    }
    await expect(iss.mint({}, { alg: 'ES384' })).rejects.toThrow(/addKey/);
    const old = iss.current;
    const oldToken = await iss.mint();
    const next = await iss.rotate();
    expect(iss.keys.map((k) => k.kid)).not.toContain(old.kid);
    expect(iss.keys.map((k) => k.kid)).toContain(next.kid);
    await expect(verify(oldToken)).rejects.toThrow();
    await verify(await iss.mint());
  });

  it('modes: down, garbage, slow', async () => {
    try {
      iss.mode = 'down';
      expect((await fetchJson(iss.jwksUri, pki.ca.certPem)).status).toBe(503);
      iss.mode = 'garbage';
      expect((await fetchJson(iss.jwksUri, pki.ca.certPem)).body).toBe('not json');
      iss.mode = 'slow';
      iss.slowMs = 300;
      const t0 = Date.now();
      expect((await fetchJson(iss.jwksUri, pki.ca.certPem)).status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    } finally {
      iss.mode = 'ok';
      iss.slowMs = 5000;
    }
  });
});

describe('client', () => {
  let server: Server;
  let port: number;
  let last: string[] = [];
  beforeAll(async () => {
    server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      last = req.rawHeaders;
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerX509Certificate();
        res.setHeader('x-dup', ['a', 'b']);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ n, peer: peer?.subject ?? null }));
      });
    });
    port = await listen(server);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends duplicate headers as separate fields, adds Host and Content-Length', async () => {
    const r = await request(`https://127.0.0.1:${port}/x`, {
      method: 'POST',
      ca: pki.ca.certPem,
      headers: [
        ['Authorization', 'DPoP a'],
        ['authorization', 'Bearer b'],
        ['DPoP', 'p1'],
        ['DPoP', 'p2'],
      ],
      body: 'hello',
      cert: pki.client1.certPem,
      key: pki.client1.keyPem,
    });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ n: 5, peer: 'CN=client-1' });
    expect(last).toEqual([
      'Host', `127.0.0.1:${port}`,
      'Authorization', 'DPoP a',
      'authorization', 'Bearer b',
      'DPoP', 'p1',
      'DPoP', 'p2',
      'Content-Length', '5',
      'Connection', 'close',
    ]);
    expect(r.headersDistinct['x-dup']).toEqual(['a', 'b']);
    expect(r.tlsProtocol).toBe('TLSv1.3');
  });

  it('resumes TLS sessions', async () => {
    const a = await request(`https://127.0.0.1:${port}/`, { ca: pki.ca.certPem });
    expect(a.session).toBeInstanceOf(Buffer);
    const b = await request(`https://127.0.0.1:${port}/`, { ca: pki.ca.certPem, session: a.session! });
    expect(b.sessionReused).toBe(true);
  });

  it('rawTls returns the raw reply and notices the close', async () => {
    const r = await rawTls('127.0.0.1', port, {
      ca: pki.ca.certPem,
      payload: 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    });
    expect(r.closed).toBe(true);
    expect(r.response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const hang = await rawTls('127.0.0.1', port, { ca: pki.ca.certPem, payload: 'GET / HTTP/1.1\r\n', timeoutMs: 200 });
    expect(hang).toEqual({ response: '', closed: false });
  });

  it('tlsProbe reports the negotiated protocol or the failure', async () => {
    const ok = await tlsProbe('127.0.0.1', port, { ca: pki.ca.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(ok).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    expect(ok.cipher).toMatch(/^TLS_/);
    const t12 = await tlsProbe('127.0.0.1', port, {
      ca: pki.ca.certPem,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-RSA-AES256-GCM-SHA384',
    });
    expect(t12).toEqual({ ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES256-GCM-SHA384' });
    const bad = await tlsProbe('127.0.0.1', port, { ca: pki.selfSigned.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(bad.ok).toBe(false);
    expect(bad.error).toBeTruthy();
  });
});

describe('upstream', () => {
  it('records requests and follows its behaviour', async () => {
    const up = await startUpstream();
    try {
      const r = await fetch(`${up.url}/a/b?c=1`, { method: 'POST', headers: { 'x-test': '1' }, body: 'payload' });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ ok: true, method: 'POST', url: '/a/b?c=1' });
      expect(up.received).toHaveLength(1);
      expect(up.received[0]).toMatchObject({ method: 'POST', url: '/a/b?c=1', headers: { 'x-test': '1' } });
      expect(up.received[0]!.body.toString()).toBe('payload');
      expect(up.received[0]!.rawHeaders).toContain('x-test');

      up.behaviour = 'status:418';
      expect((await fetch(up.url)).status).toBe(418);
      up.behaviour = 'reset';
      await expect(fetch(up.url)).rejects.toThrow();
      up.behaviour = 'reset-mid-body';
      const mid = await fetch(up.url);
      expect(mid.status).toBe(200);
      await expect(mid.text()).rejects.toThrow();
      up.behaviour = 'hang';
      await expect(fetch(up.url, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
      up.behaviour = 'ok';
      up.delayMs = 150;
      const t0 = Date.now();
      expect((await fetch(up.url)).status).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(up.received).toHaveLength(6);
    } finally {
      await up.close();
    }
  });
});

describe('client: parseRawResponse', () => {
  it('splits status, lower-cased fields and body at the first blank line', () => {
    const r = parseRawResponse('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\nX-Fapi-Interaction-Id: a\r\n\r\n{"e":1}\r\n\r\nrest');
    expect(r.status).toBe(401);
    expect(r.headers).toEqual({ 'www-authenticate': 'Bearer realm="x"', 'x-fapi-interaction-id': 'a' });
    expect(r.body).toBe('{"e":1}\r\n\r\nrest');
    expect(r.head.endsWith('X-Fapi-Interaction-Id: a')).toBe(true);
  });
  it('no head, or not HTTP/1.1: status 0, so a status assertion fails', () => {
    expect(parseRawResponse('').status).toBe(0);
    expect(parseRawResponse('HTTP/1.0 200 OK\r\n\r\n').status).toBe(0);
    expect(parseRawResponse('HTTP/1.1 200 OK').body).toBe('');
  });
});
