// INT-1: the gateway's client authentication at the introspection endpoint.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_ASSERTION_TYPE,
  clientSecretBasic,
  formEncode,
  loadSigningKey,
  privateKeyJwt,
  tlsClientAuth,
} from '../../../src/token/client-auth.js';
import { clientAuthFor } from '../../../src/token/token-validator.js';
import { testPki } from '../../support/pki.js';
import { issuerConfig } from './introspection-fixtures.js';

const pem = (type: 'rsa' | 'ec' | 'ed25519', opts: Record<string, unknown> = {}): string =>
  (generateKeyPairSync as (t: string, o: object) => { privateKey: KeyObject })(type, opts).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('INT-1 private_key_jwt (RFC 7523, FAPI 2.0 audience)', () => {
  it('INT-1 a fresh assertion per call: iss = sub = client_id, aud = the issuer, jti, iat, exp = iat + 60', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const key = loadSigningKey(await exportPKCS8(privateKey));
    const auth = privateKeyJwt('gw-client', key, 'https://as.test');
    const a = await auth.credentials(1_700_000_000);
    const b = await auth.credentials(1_700_000_000);
    expect(a.form.client_assertion_type).toBe(CLIENT_ASSERTION_TYPE);
    expect(a.form.client_assertion).not.toBe(b.form.client_assertion);
    const { payload, protectedHeader } = await jwtVerify(a.form.client_assertion as string, publicKey, {
      currentDate: new Date(1_700_000_000_000),
      issuer: 'gw-client',
      subject: 'gw-client',
      audience: 'https://as.test',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toBeUndefined();
    expect(payload.iat).toBe(1_700_000_000);
    expect(payload.exp).toBe(1_700_000_060);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers).toEqual({});
  });
  it('INT-1 the alg follows the key: RSA -> PS256, P-256 -> ES256, Ed25519 -> EdDSA', () => {
    expect(loadSigningKey(pem('rsa', { modulusLength: 2048 })).alg).toBe('PS256');
    expect(loadSigningKey(pem('ec', { namedCurve: 'P-256' })).alg).toBe('ES256');
    expect(loadSigningKey(pem('ed25519')).alg).toBe('EdDSA');
  });
  it('INT-1 FAPI key rules: RSA < 2048, P-384, an alg that does not fit the key, PKCS#1 PEM are refused', () => {
    expect(() => loadSigningKey(pem('rsa', { modulusLength: 1024 }))).toThrow(/cannot sign/);
    expect(() => loadSigningKey(pem('ec', { namedCurve: 'P-384' }))).toThrow(/cannot sign/);
    expect(() => loadSigningKey(pem('ec', { namedCurve: 'P-256' }), 'PS256')).toThrow(/cannot sign PS256/);
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    expect(() => loadSigningKey(pkcs1)).toThrow(/PKCS#8/);
  });
  it('INT-1 / log hygiene: a JWK file that is not valid JSON is refused without quoting it (it holds the private key)', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const broken = JSON.stringify(jwk).replace('"d":"', '"d":');
    let message = '';
    try {
      loadSigningKey(broken);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('the JWK is not valid JSON');
    expect(message).not.toContain((jwk.d as string).slice(0, 6));
  });
  it('INT-1 a JWK file: its kid goes in the header, its alg must agree, a public JWK is refused', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'gw-key-1' };
    const key = loadSigningKey(JSON.stringify(jwk));
    expect(key).toMatchObject({ alg: 'EdDSA', kid: 'gw-key-1' });
    const { form } = await privateKeyJwt('c', key, 'https://as.test').credentials(Math.floor(Date.now() / 1000));
    expect(decodeProtectedHeader(form.client_assertion as string)).toEqual({ alg: 'EdDSA', kid: 'gw-key-1' });
    await jwtVerify(form.client_assertion as string, publicKey);
    expect(() => loadSigningKey(JSON.stringify({ ...jwk, alg: 'ES256' }))).toThrow();
    const publicJwk = JSON.stringify(await exportJWK(publicKey));
    expect(() => loadSigningKey(publicJwk)).toThrow(/not a private key/);
  });
});

describe('INT-1 tls_client_auth (RFC 8705 §2)', () => {
  it('INT-1 the certificate goes on the connection, client_id in the body', async () => {
    const pki = await testPki();
    const auth = tlsClientAuth('gw-mtls', pki.client1.certPem, pki.client1.keyPem);
    expect(auth.tls).toEqual({ cert: pki.client1.certPem, key: pki.client1.keyPem });
    expect(await auth.credentials(0)).toEqual({ form: { client_id: 'gw-mtls' }, headers: {} });
  });
  it('INT-1 a key that does not belong to the certificate fails at start', async () => {
    const pki = await testPki();
    expect(() => tlsClientAuth('gw', pki.client1.certPem, pki.client2.keyPem)).toThrow();
  });
});

describe('INT-1 client_secret_basic (RFC 6749 §2.3.1)', () => {
  it('INT-1 id and secret are form-urlencoded before base64', async () => {
    const { headers, form } = await clientSecretBasic('gw client', 'p:ss w%rd+é').credentials(0);
    expect(form).toEqual({});
    const decoded = Buffer.from((headers.authorization as string).replace(/^Basic /, ''), 'base64').toString('utf8');
    expect(decoded).toBe('gw+client:p%3Ass+w%25rd%2B%C3%A9');
    expect(formEncode('a b')).toBe('a+b');
  });
});

describe('clientAuthFor: keys and secrets by reference', () => {
  it('resolves key files relative to the config directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fapi-ca-'));
    const { privateKey } = await generateKeyPair('PS256', { extractable: true });
    await writeFile(join(dir, 'gw.key'), await exportPKCS8(privateKey));
    const cfg = issuerConfig({ auth: 'private_key_jwt', client_secret_env: undefined, private_key_file: 'gw.key' });
    const auth = clientAuthFor('as', cfg, { baseDir: dir, secrets: { introspectionSecrets: {} } as never });
    expect(auth.method).toBe('private_key_jwt');
    expect(decodeProtectedHeader((await auth.credentials(0)).form.client_assertion as string).alg).toBe('PS256');
    expect(() => clientAuthFor('as', cfg, { baseDir: tmpdir(), secrets: { introspectionSecrets: {} } as never })).toThrow(/private_key_file/);
  });
  it('tls_client_auth: a key that is not the certificate\'s is refused naming the setting and both files (not OpenSSL\'s text alone)', async () => {
    const pki = await testPki();
    const dir = await mkdtemp(join(tmpdir(), 'fapi-ca-'));
    await writeFile(join(dir, 'gw.crt'), pki.client1.certPem);
    await writeFile(join(dir, 'other.key'), pki.client2.keyPem);
    const cfg = issuerConfig({ auth: 'tls_client_auth', client_secret_env: undefined, cert_file: 'gw.crt', key_file: 'other.key' });
    expect(() => clientAuthFor('as', cfg, { baseDir: dir, secrets: { introspectionSecrets: {} } as never })).toThrow(/^issuers\.as\.introspection\.cert_file gw\.crt, key_file other\.key: /);
  });
  it('takes the client secret from the secrets resolved at load', async () => {
    const cfg = issuerConfig();
    const auth = clientAuthFor('as', cfg, { baseDir: '.', secrets: { introspectionSecrets: { as: 'secret' } } as never });
    expect((await auth.credentials(0)).headers.authorization).toBe(`Basic ${Buffer.from('gw:secret').toString('base64')}`);
  });
});
