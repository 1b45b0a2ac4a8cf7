import { constants, createHash, createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign as nodeSign, type JsonWebKey } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { DpopNonces } from '../../../src/binding/dpop-nonce.js';
import {
  DPOP_DEFAULTS,
  DpopVerifier,
  jwkThumbprint,
  MAX_PROOF_CHARS,
  type DpopProofInput,
  type DpopVerifierOptions,
} from '../../../src/binding/dpop-proof.js';
import { expectedHtu } from '../../../src/binding/htu.js';
import type { ErrorCode } from '../../../src/errors/catalog.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';

// RFC 9449 Figs. 13-14 (requirements §17): this access token and its ath.
const AT = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo';
const HTU_RAW = 'https://api.bank.example/accounts/123';
const HTU = expectedHtu('https://api.bank.example', '/accounts/123');
const NOW_MS = 1_760_000_000_500;
const NOW_S = Math.floor(NOW_MS / 1000);

type Json = Record<string, unknown>;
type SignFn = (input: Buffer) => Buffer;

interface Signer {
  readonly alg: string;
  readonly privateKey: Parameters<CompactSign['sign']>[0];
  readonly jwk: JWK;
  readonly privateJwk: JWK;
  readonly jkt: string;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

async function makeSigner(alg: 'ES256' | 'PS256' | 'EdDSA' | 'Ed25519'): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(jwk) };
}

const baseClaims = (): Json => ({ jti: randomUUID(), htm: 'GET', htu: HTU_RAW, iat: NOW_S, ath: ATH });

interface ProofOpts {
  readonly header?: Json;
  readonly claims?: Json;
  readonly omitHeader?: readonly string[];
  readonly omitClaims?: readonly string[];
  readonly crit?: Record<string, boolean>;
}

/** A real proof signed with jose; header and claims can be changed before signing. */
async function proof(s: Signer, o: ProofOpts = {}): Promise<string> {
  const header: Json = { typ: 'dpop+jwt', alg: s.alg, jwk: s.jwk, ...o.header };
  const claims: Json = { ...baseClaims(), ...o.claims };
  for (const k of o.omitHeader ?? []) delete header[k];
  for (const k of o.omitClaims ?? []) delete claims[k];
  const jws = new CompactSign(enc(claims)).setProtectedHeader(header as { alg: string });
  return o.crit === undefined ? jws.sign(s.privateKey) : jws.sign(s.privateKey, { crit: o.crit });
}

/** Signs header.payload with a raw signing function, for what jose refuses to produce. */
function rawProof(header: Json, claims: Json, signFn: SignFn): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${signFn(Buffer.from(input)).toString('base64url')}`;
}

/** Replaces the header segment without re-signing (the signature then no longer matches). */
function reheader(p: string, f: (h: Json) => Json): string {
  const [h, rest] = [p.slice(0, p.indexOf('.')), p.slice(p.indexOf('.'))];
  return b64(f(JSON.parse(Buffer.from(h, 'base64url').toString()) as Json)) + rest;
}

function input(proofs: readonly string[], over: Partial<DpopProofInput> = {}, jkt = es.jkt): DpopProofInput {
  return { proofs, method: 'GET', htu: HTU, accessToken: AT, expectedJkt: jkt, nonceRequired: false, ...over };
}

const verifier = (over: Partial<DpopVerifierOptions> = {}): DpopVerifier => new DpopVerifier({ ...DPOP_DEFAULTS, ...over });

async function rejects(v: DpopVerifier, i: DpopProofInput, code: ErrorCode, detail: RegExp): Promise<GatewayError> {
  const err = await v.verify(i, NOW_MS).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'verify() should reject').toBeInstanceOf(GatewayError);
  const g = err as GatewayError;
  expect(g.code).toBe(code);
  expect(g.message).toMatch(detail);
  return g;
}

let es: Signer;
let ps: Signer;
let ed: Signer;
let ed2: Signer;
let other: Signer;
const V = verifier();

beforeAll(async () => {
  [es, ps, ed, ed2, other] = await Promise.all([
    makeSigner('ES256'),
    makeSigner('PS256'),
    makeSigner('EdDSA'),
    makeSigner('Ed25519'),
    makeSigner('ES256'),
  ]);
});

describe('DpopVerifier: valid proofs', () => {
  it('DPOP-4/DPOP-6 accepts ES256, PS256, EdDSA and Ed25519 proofs; jkt is the RFC 7638 thumbprint (DPOP-14)', async () => {
    for (const s of [es, ps, ed, ed2]) {
      const r = await V.verify(input([await proof(s)], {}, s.jkt), NOW_MS);
      expect(r.jkt).toBe(s.jkt);
    }
  });

  it('DPOP-21 returns the replay key sha256(jkt:jti) under the prefix, and TTL = windows + 10 s', async () => {
    const jti = 'jti-1';
    const v = verifier({ keyPrefix: 'test:dpop:', iatPastS: 300, iatFutureS: 10 });
    const r = await v.verify(input([await proof(es, { claims: { jti } })]), NOW_MS);
    expect(r.replayKey).toBe(`test:dpop:${createHash('sha256').update(`${es.jkt}:${jti}`).digest('hex')}`);
    expect(r.ttlMs).toBe(320_000);
    const again = await v.verify(input([await proof(es, { claims: { jti } })]), NOW_MS);
    expect(again.replayKey).toBe(r.replayKey);
    const otherJti = await v.verify(input([await proof(es, { claims: { jti: 'jti-2' } })]), NOW_MS);
    expect(otherJti.replayKey).not.toBe(r.replayKey);
  });

  it('DPOP-14 jkt test vector (RFC 9449 Figs. 4, 9)', async () => {
    const jwk = {
      kty: 'EC',
      x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
      y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
      crv: 'P-256',
    };
    expect(jwkThumbprint(jwk)).toBe('0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
    expect(await calculateJwkThumbprint(jwk)).toBe('0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
    // Members outside RFC 7638's set do not change the thumbprint.
    expect(jwkThumbprint({ ...jwk, kid: 'k1', use: 'sig', alg: 'ES256' })).toBe('0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
    expect(jwkThumbprint(ps.jwk)).toBe(ps.jkt);
    expect(jwkThumbprint(ed.jwk)).toBe(ed.jkt);
  });

  it('DPOP-12 ath test vector (RFC 9449 Figs. 13-14) is accepted', async () => {
    expect(createHash('sha256').update(AT, 'ascii').digest('base64url')).toBe(ATH);
    await expect(V.verify(input([await proof(es, { claims: { ath: ATH } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-7 / CONF-D27 ignores an extra header parameter and an extra claim', async () => {
    const p = await proof(es, { header: { tx_id: 'abc', kid: 'ignored', jku: 'https://evil.example/jwks' }, claims: { tx_id_key: 'xyz' } });
    await expect(V.verify(input([p]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-3 accepts typ case-insensitively and with an application/ prefix', async () => {
    for (const typ of ['DPoP+JWT', 'application/dpop+jwt', 'Application/DPOP+jwt']) {
      await expect(V.verify(input([await proof(es, { header: { typ } })]), NOW_MS)).resolves.toBeDefined();
    }
  });

  it('DPOP-23 accepts a 256-character jti', async () => {
    await expect(V.verify(input([await proof(es, { claims: { jti: 'j'.repeat(256) } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-4 advertises the configured allow-list as algs', () => {
    expect(V.algs).toEqual(['PS256', 'ES256', 'EdDSA', 'Ed25519']);
    expect(verifier({ algorithms: ['ES256'] }).algs).toEqual(['ES256']);
  });
});

describe('DpopVerifier: proof syntax (DPOP-1, DPOP-2)', () => {
  it('DPOP-1 / CONF-D2 refuses two DPoP header fields', async () => {
    const p = await proof(es);
    await rejects(V, input([p, await proof(es)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-1 /);
    await rejects(V, input([p, p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-1 /);
  });

  it('DPOP-1 refuses zero DPoP header fields', async () => {
    await rejects(V, input([]), 'GW_DPOP_PROOF_INVALID', /^DPOP-1 /);
  });

  it('DPOP-2 refuses two proofs joined by a comma (Node joins duplicate headers)', async () => {
    await rejects(V, input([`${await proof(es)}, ${await proof(es)}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 /);
  });

  it('DPOP-2 / CONF-D3 refuses header.payload without a signature', async () => {
    const p = await proof(es);
    await rejects(V, input([p.slice(0, p.lastIndexOf('.'))]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 /);
    await rejects(V, input([p.slice(0, p.lastIndexOf('.') + 1)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 /);
  });

  it('DPOP-2 refuses JWE (5 segments), JSON serialization, bad characters and empty values', async () => {
    const p = await proof(es);
    const [h, pl, sig] = p.split('.') as [string, string, string];
    for (const bad of [
      `${h}.${pl}.${sig}.${sig}.${sig}`,
      JSON.stringify({ protected: h, payload: pl, signature: sig }),
      `${h}.${pl}.${sig}=`,
      `${h}.${pl}.${sig.slice(0, 10)}+/${sig.slice(12)}`,
      ` ${p}`,
      '',
    ]) {
      await rejects(V, input([bad]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 /);
    }
  });

  it('DPOP-2 refuses a header or payload that is not a JSON object', async () => {
    const p = await proof(es);
    const [h, pl, sig] = p.split('.') as [string, string, string];
    const notJson = Buffer.from('{not json').toString('base64url');
    await rejects(V, input([`${notJson}.${pl}.${sig}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 proof header/);
    await rejects(V, input([`${h}.${notJson}.${sig}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 proof payload/);
    await rejects(V, input([`${h}.${b64([1, 2])}.${sig}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 proof payload/);
    await rejects(V, input([`${b64('str')}.${pl}.${sig}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 proof header/);
  });

  it(`DPOP-2 refuses a validly signed proof longer than ${MAX_PROOF_CHARS} characters`, async () => {
    const p = await proof(es, { claims: { pad: 'x'.repeat(MAX_PROOF_CHARS) } });
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-2 proof longer/);
  });
});

describe('DpopVerifier: required claims (DPOP-8, DPOP-23)', () => {
  for (const claim of ['jti', 'htm', 'htu', 'iat', 'ath']) {
    it(`DPOP-8 / CONF-D7..D11 refuses a proof without ${claim}`, async () => {
      await rejects(V, input([await proof(es, { omitClaims: [claim] })]), 'GW_DPOP_PROOF_INVALID', new RegExp(`^DPOP-8 ${claim} `));
    });
  }

  it('DPOP-8 refuses claims of the wrong type', async () => {
    const cases: [Json, string][] = [
      [{ jti: '' }, 'jti'],
      [{ jti: 42 }, 'jti'],
      [{ htm: ['GET'] }, 'htm'],
      [{ htu: { href: HTU } }, 'htu'],
      [{ iat: String(NOW_S) }, 'iat'],
      [{ ath: null }, 'ath'],
    ];
    for (const [claims, name] of cases) {
      await rejects(V, input([await proof(es, { claims })]), 'GW_DPOP_PROOF_INVALID', new RegExp(`^DPOP-8 ${name} `));
    }
  });

  it('DPOP-23 refuses a 257-character jti', async () => {
    await rejects(V, input([await proof(es, { claims: { jti: 'j'.repeat(257) } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-23 /);
  });

  it('DPOP-23 refuses a 10 KB jti', async () => {
    await rejects(V, input([await proof(es, { claims: { jti: 'j'.repeat(10_240) } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-(2|23) /);
  });
});

describe('DpopVerifier: header (DPOP-3..DPOP-7)', () => {
  it('DPOP-3 / CONF-D4 refuses a proof without typ', async () => {
    await rejects(V, input([await proof(es, { omitHeader: ['typ'] })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-3 /);
  });

  it('DPOP-3 / CONF-D12 refuses typ dpop+jwt+wrongyousee, JWT and a non-string typ', async () => {
    for (const typ of ['dpop+jwt+wrongyousee', 'JWT', 'at+jwt', 'application/dpop', 7]) {
      await rejects(V, input([await proof(es, { header: { typ } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-3 /);
    }
  });

  it('DPOP-4 / CONF-D5 refuses a proof whose alg was renamed to alg2', async () => {
    const p = reheader(await proof(es), ({ alg, ...h }) => ({ ...h, alg2: alg }));
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-4 alg missing/);
  });

  it('DPOP-4 / CONF-D14 refuses alg none', async () => {
    const p = rawProof({ typ: 'dpop+jwt', alg: 'none', jwk: es.jwk }, baseClaims(), () => Buffer.from('sig'));
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-4 /);
  });

  it('DPOP-4 / CONF-D13 refuses an RS256 proof', async () => {
    const key = createPrivateKey({ key: ps.privateJwk as JsonWebKey, format: 'jwk' });
    const p = rawProof({ typ: 'dpop+jwt', alg: 'RS256', jwk: ps.jwk }, baseClaims(), (d) => nodeSign('sha256', d, key));
    await rejects(V, input([p], {}, ps.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-4 /);
  });

  it('DPOP-4 refuses HS256 with an oct jwk', async () => {
    const k = randomBytes(32);
    const hs: Signer = {
      alg: 'HS256',
      privateKey: k,
      jwk: { kty: 'oct', k: k.toString('base64url') },
      privateJwk: {},
      jkt: '',
    };
    await rejects(V, input([await proof(hs)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-4 /);
  });

  it('DPOP-4 refuses a supported alg left out of the configured allow-list', async () => {
    const v = verifier({ algorithms: ['ES256'] });
    await rejects(v, input([await proof(ps)], {}, ps.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-4 /);
    await expect(v.verify(input([await proof(es)]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-5 / CONF-D6 refuses a proof without jwk, or with a non-object jwk', async () => {
    await rejects(V, input([await proof(es, { omitHeader: ['jwk'] })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 jwk missing/);
    await rejects(V, input([await proof(es, { header: { jwk: JSON.stringify(es.jwk) } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 jwk missing/);
  });

  it('DPOP-5 / CONF-D16 refuses a jwk holding the private key', async () => {
    for (const s of [es, ps, ed]) {
      expect(s.privateJwk.d).toBeTypeOf('string');
      await rejects(V, input([await proof(s, { header: { jwk: s.privateJwk } })], {}, s.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 .*"d"/);
    }
  });

  it('DPOP-5 refuses any private or symmetric member (p, q, dp, dq, qi, oth, k)', async () => {
    for (const m of ['p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
      const p = await proof(es, { header: { jwk: { ...es.jwk, [m]: 'AQAB' } } });
      await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', new RegExp(`^DPOP-5 .*"${m}"`));
    }
  });

  it('DPOP-5 refuses a symmetric (kty oct) jwk under an asymmetric alg', async () => {
    const p = await proof(es, { header: { jwk: { kty: 'oct' } } });
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 ES256 needs/);
  });

  it('DPOP-5 refuses an RSA key below 2048 bits', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = publicKey.export({ format: 'jwk' });
    const p = rawProof({ typ: 'dpop+jwt', alg: 'PS256', jwk }, baseClaims(), (d) =>
      nodeSign('sha256', d, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
    );
    await rejects(V, input([p], {}, await calculateJwkThumbprint(jwk as JWK)), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 RSA key is 1024 bits/);
  });

  it('DPOP-5 refuses an RSA jwk with a large or even exponent', async () => {
    for (const e of ['AQABAQAB', 'AQAC', 'AAEAAQ']) {
      const p = await proof(ps, { header: { jwk: { ...ps.jwk, e } } });
      await rejects(V, input([p], {}, ps.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 RSA jwk e/);
    }
  });

  it('DPOP-5 refuses a key that does not match the alg', async () => {
    const cases: [Signer, JWK, RegExp][] = [
      [es, ed.jwk, /^DPOP-5 ES256 needs/],
      [es, ps.jwk, /^DPOP-5 ES256 needs/],
      [es, { ...es.jwk, crv: 'P-384' }, /^DPOP-5 ES256 needs/],
      [ps, es.jwk, /^DPOP-5 PS256 needs/],
      [ed, es.jwk, /^DPOP-5 EdDSA needs/],
      [ed, { ...ed.jwk, crv: 'X25519' }, /^DPOP-5 EdDSA needs/],
      [ed2, { ...ed.jwk, crv: 'Ed448' }, /^DPOP-5 Ed25519 needs/],
    ];
    for (const [s, jwk, re] of cases) {
      await rejects(V, input([await proof(s, { header: { jwk } })], {}, s.jkt), 'GW_DPOP_PROOF_INVALID', re);
    }
  });

  it('DPOP-5 refuses malformed key members: wrong length, non-canonical base64url, off-curve point', async () => {
    const x = es.jwk.x as string;
    const shortX = Buffer.from(x, 'base64url').subarray(1).toString('base64url');
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(x.at(-1) as string);
    const respelled = x.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[last ^ 1];
    const offCurve = Buffer.alloc(32, 7).toString('base64url');
    await rejects(V, input([await proof(es, { header: { jwk: { ...es.jwk, x: shortX } } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 jwk x is not 32/);
    await rejects(V, input([await proof(es, { header: { jwk: { ...es.jwk, x: respelled } } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 jwk x is not 32/);
    await rejects(V, input([await proof(es, { header: { jwk: { ...es.jwk, x: `${x}=` } } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 EC jwk x\/y/);
    await rejects(V, input([await proof(es, { header: { jwk: { ...es.jwk, y: offCurve } } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-5 jwk is not a valid public key/);
  });

  it('DPOP-6 / CONF-D15 refuses a corrupted signature', async () => {
    for (const s of [es, ps, ed]) {
      const p = await proof(s);
      const sig = Buffer.from(p.slice(p.lastIndexOf('.') + 1), 'base64url');
      sig[5] = (sig[5] as number) ^ 0xff;
      const bad = `${p.slice(0, p.lastIndexOf('.') + 1)}${sig.toString('base64url')}`;
      await rejects(V, input([bad], {}, s.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
    }
  });

  it('DPOP-6 verifies with the header jwk only: a proof signed by another key fails', async () => {
    const p = await proof({ ...other, jwk: es.jwk });
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
  });

  it('DPOP-6 refuses a changed payload and a truncated signature', async () => {
    const p = await proof(es);
    const [h, , sig] = p.split('.') as [string, string, string];
    await rejects(V, input([`${h}.${b64({ ...baseClaims(), jti: 'other' })}.${sig}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
    await rejects(V, input([`${h}.${p.split('.')[1]}.${sig.slice(0, 40)}`]), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
  });

  it('DPOP-6 refuses a DER-encoded ES256 signature (JWS uses raw r||s)', async () => {
    const privateKey = createPrivateKey({ key: es.privateJwk as JsonWebKey, format: 'jwk' });
    const p = rawProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: es.jwk }, baseClaims(), (d) => nodeSign('sha256', d, privateKey));
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
    // The same key with ieee-p1363 encoding is accepted.
    const ok = rawProof({ typ: 'dpop+jwt', alg: 'ES256', jwk: es.jwk }, baseClaims(), (d) => nodeSign('sha256', d, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    await expect(V.verify(input([ok]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-7 refuses a crit header parameter', async () => {
    const p = await proof(es, { header: { crit: ['exp_ext'], exp_ext: 1 }, crit: { exp_ext: true } });
    await rejects(V, input([p]), 'GW_DPOP_PROOF_INVALID', /^DPOP-7 /);
  });
});

describe('DpopVerifier: request binding (DPOP-9..DPOP-13)', () => {
  it('DPOP-9 / CONF-D17 refuses htm PUT on a GET', async () => {
    await rejects(V, input([await proof(es, { claims: { htm: 'PUT' } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-9 /);
  });

  it('DPOP-9 compares htm case-sensitively (Q-4)', async () => {
    await rejects(V, input([await proof(es, { claims: { htm: 'get' } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-9 /);
    await expect(V.verify(input([await proof(es, { claims: { htm: 'POST' } })], { method: 'POST' }), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-10 / CONF-D18 accepts htu with ?query#fragment', async () => {
    await expect(V.verify(input([await proof(es, { claims: { htu: `${HTU_RAW}?a=1&b=two#frag` } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-10 / CONF-D28 accepts htu with upper-case scheme and host', async () => {
    await expect(V.verify(input([await proof(es, { claims: { htu: 'HTTPS://API.BANK.EXAMPLE/accounts/123' } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-10 / CONF-D29 accepts htu with an explicit :443', async () => {
    await expect(V.verify(input([await proof(es, { claims: { htu: 'https://api.bank.example:443/accounts/123' } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-10 accepts percent-encoding and dot-segment variants of the same URL', async () => {
    await expect(V.verify(input([await proof(es, { claims: { htu: 'https://api.bank.example/%61ccounts/./123' } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-10 / CONF-D20 refuses a changed path', async () => {
    await rejects(V, input([await proof(es, { claims: { htu: `${HTU_RAW}ohnonotagain` } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-10 htu does not match/);
    await rejects(V, input([await proof(es, { claims: { htu: 'https://api.bank.example/accounts/123/' } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-10 htu does not match/);
  });

  it('DPOP-10 refuses another origin: host, scheme, port', async () => {
    for (const htu of ['https://evil.example/accounts/123', 'http://api.bank.example/accounts/123', 'https://api.bank.example:8443/accounts/123']) {
      await rejects(V, input([await proof(es, { claims: { htu } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-10 htu does not match/);
    }
  });

  it('DPOP-10 refuses userinfo and relative htu', async () => {
    for (const htu of ['https://user@api.bank.example/accounts/123', '/accounts/123']) {
      await rejects(V, input([await proof(es, { claims: { htu } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-10 htu is not/);
    }
  });

  it('DPOP-11 / CONF-9 / CONF-10 accepts iat now+8 s and now-10 s', async () => {
    for (const d of [8, -10, 0]) {
      await expect(V.verify(input([await proof(es, { claims: { iat: NOW_S + d } })]), NOW_MS)).resolves.toBeDefined();
    }
  });

  it('DPOP-11 / CONF-D21 / CONF-D22 refuses iat now+1 h and now-1 h', async () => {
    for (const d of [3600, -3600]) {
      await rejects(V, input([await proof(es, { claims: { iat: NOW_S + d } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 /);
    }
  });

  it('DPOP-11 window edges follow iatPastS / iatFutureS', async () => {
    const v = verifier({ iatPastS: 300, iatFutureS: 10 });
    const at = (iat: number): Promise<string> => proof(es, { claims: { iat } });
    const nowS = NOW_MS / 1000;
    await expect(v.verify(input([await at(nowS - 300)]), NOW_MS)).resolves.toBeDefined();
    await expect(v.verify(input([await at(nowS + 10)]), NOW_MS)).resolves.toBeDefined();
    await rejects(v, input([await at(nowS - 301)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 iat more than 300 s in the past/);
    await rejects(v, input([await at(nowS + 11)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 iat more than 10 s in the future/);
    const tight = verifier({ iatPastS: 60, iatFutureS: 0 });
    await rejects(tight, input([await at(nowS - 61)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 /);
    await rejects(tight, input([await at(nowS + 1)]), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 /);
  });

  it('DPOP-21: a reload that widens iatPastS keeps the old window for proofs issued before it (their replay entries expire with it)', async () => {
    const nowS = NOW_MS / 1000;
    const narrow = verifier({ iatPastS: 60, iatFutureS: 0 });
    const used = await proof(es, { claims: { iat: nowS } });
    // Claimed under the narrow window: its replay entry lives 70 s.
    expect((await narrow.verify(input([used]), NOW_MS)).ttlMs).toBe(70_000);
    const wide = verifier({ iatPastS: 300, iatFutureS: 0, earlier: narrow.handover(nowS + 1) });
    // 72 s later the entry is gone; without the handover the 300 s window would accept the replay.
    expect(verifier({ iatPastS: 300, iatFutureS: 0 }).verifyNow(input([used]), NOW_MS + 72_000)).toBeDefined(); // the hole
    await expect(wide.verify(input([used]), NOW_MS + 72_000)).rejects.toThrow(/^DPOP-11 iat more than 60 s in the past/);
    // Proofs issued after the reload get the new window, and their entries its TTL.
    const fresh = await proof(es, { claims: { iat: nowS + 2 } });
    const r = wide.verifyNow(input([fresh]), NOW_MS + 200_000);
    expect(r.ttlMs).toBe(310_000);
    // A reload that narrows needs nothing kept; once the old proofs are out of the window, neither does a later one.
    expect(wide.handover(nowS + 100)).toEqual({ beforeS: nowS + 100, iatPastS: 60 });
    expect(wide.handover(nowS + 400)).toEqual({ beforeS: nowS + 400, iatPastS: 300 });
  });

  it('DPOP-13 / CONF-11 accepts nbf = now and exp = now + 300 s', async () => {
    await expect(V.verify(input([await proof(es, { claims: { nbf: NOW_S, exp: NOW_S + 300 } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-13 refuses an expired proof, a future nbf, and non-numeric nbf/exp', async () => {
    await rejects(V, input([await proof(es, { claims: { exp: NOW_S - 60 } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-13 proof is expired/);
    await rejects(V, input([await proof(es, { claims: { nbf: NOW_S + 3600 } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-13 nbf is in the future/);
    await rejects(V, input([await proof(es, { claims: { nbf: 'now' } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-13 nbf is not/);
    await rejects(V, input([await proof(es, { claims: { exp: 'later' } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-13 exp is not/);
  });

  it('DPOP-12 / CONF-D25 refuses a wrong ath', async () => {
    const wrong = createHash('sha256').update(`${AT}x`).digest('base64url');
    await rejects(V, input([await proof(es, { claims: { ath: wrong } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-12 /);
    await rejects(V, input([await proof(es, { claims: { ath: `${ATH}=` } })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-12 /);
    await rejects(V, input([await proof(es)], { accessToken: `${AT}x` }), 'GW_DPOP_PROOF_INVALID', /^DPOP-12 /);
  });

  it('DPOP-12 compares ath with the SHA-256 the caller already has (the token cache key) when given', async () => {
    const hex = (s: string): string => createHash('sha256').update(s).digest('hex');
    await expect(V.verify(input([await proof(es)], { accessTokenSha256: hex(AT) }), NOW_MS)).resolves.toBeDefined();
    // The given hash is what counts: the hash of another token is refused even with the right token.
    await rejects(V, input([await proof(es)], { accessTokenSha256: hex(`${AT}x`) }), 'GW_DPOP_PROOF_INVALID', /^DPOP-12 /);
  });
});

describe('DpopVerifier: key binding (DPOP-14)', () => {
  it('DPOP-14 / CONF-D26 / CONF-7 refuses a proof key other than cnf.jkt with GW_DPOP_KEY_MISMATCH (E3)', async () => {
    const g = await rejects(V, input([await proof(other)], {}, es.jkt), 'GW_DPOP_KEY_MISMATCH', /^DPOP-14 /);
    expect(g.entry.error).toBe('invalid_token');
  });

  it('DPOP-14 proof validity (E4) is checked before the binding (E3)', async () => {
    const p = await proof(other, { claims: { htm: 'PUT' } });
    await rejects(V, input([p], {}, es.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-9 /);
  });
});

describe('DpopVerifier: nonces (DPOP-24..DPOP-28)', () => {
  const nonces = new DpopNonces({ secrets: [randomBytes(32)] });
  const NV = verifier({ nonces });

  it('DPOP-24 / DPOP-25 / CONF-2 a required nonce that is missing gives use_dpop_nonce with one fresh DPoP-Nonce', async () => {
    const g = await rejects(NV, input([await proof(es)], { nonceRequired: true }), 'GW_DPOP_NONCE_REQUIRED', /^DPOP-25 /);
    expect(g.entry.error).toBe('use_dpop_nonce');
    const fresh = g.headers['DPoP-Nonce'];
    expect(fresh).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
    expect(nonces.verify(fresh as string, NOW_MS)).toBe(true);
    // The retry with that nonce succeeds.
    const retry = await proof(es, { claims: { nonce: fresh } });
    await expect(NV.verify(input([retry], { nonceRequired: true }), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-26 an unknown, foreign or expired nonce gives use_dpop_nonce with a fresh nonce', async () => {
    const foreign = new DpopNonces({ secrets: [randomBytes(32)] }).issue(NOW_MS);
    const stale = nonces.issue(NOW_MS - 3_600_000);
    for (const nonce of ['made-up', foreign, stale, 17]) {
      const g = await rejects(NV, input([await proof(es, { claims: { nonce } })], { nonceRequired: true }), 'GW_DPOP_NONCE_REQUIRED', /^DPOP-2[56] /);
      expect(nonces.verify(g.headers['DPoP-Nonce'] as string, NOW_MS)).toBe(true);
    }
  });

  it('DPOP-28 a nonce is ignored when the route does not require one', async () => {
    await expect(NV.verify(input([await proof(es, { claims: { nonce: 'made-up' } })]), NOW_MS)).resolves.toBeDefined();
    await expect(V.verify(input([await proof(es, { claims: { nonce: 'made-up' } })]), NOW_MS)).resolves.toBeDefined();
  });

  it('DPOP-24 a route requiring nonces without a nonce secret is a GW_INTERNAL error, never an accept', async () => {
    await rejects(V, input([await proof(es, { claims: { nonce: nonces.issue(NOW_MS) } })], { nonceRequired: true }), 'GW_INTERNAL', /^DPOP-24 /);
  });

  it('DPOP-11 / Q-15 the iat window is still enforced with a valid nonce', async () => {
    const p = await proof(es, { claims: { nonce: nonces.issue(NOW_MS), iat: NOW_S - 3600 } });
    await rejects(NV, input([p], { nonceRequired: true }), 'GW_DPOP_PROOF_INVALID', /^DPOP-11 /);
  });
});

describe('DpopVerifier: robustness', () => {
  it('ERR-8 private details name the failed check but never carry the proof, token or key', async () => {
    const p = await proof(es, { claims: { htm: 'PUT' } });
    const failures = [
      input([p]),
      input([await proof(es, { header: { jwk: es.privateJwk } })]),
      input([await proof(other)]),
      input([await proof(es)], { accessToken: 'secret-token-value' }),
      input([`${p}x`.replace(/\.[^.]*$/, '.AAAA')]),
    ];
    for (const i of failures) {
      const err = (await V.verify(i, NOW_MS).catch((e: unknown) => e)) as GatewayError;
      expect(err).toBeInstanceOf(GatewayError);
      for (const secret of [i.proofs[0] as string, (i.proofs[0] as string).split('.')[1] as string, i.accessToken, es.jwk.x as string, es.privateJwk.d as string, other.jwk.x as string]) {
        expect(err.message).not.toContain(secret);
      }
      expect(err.message).toMatch(/^DPOP-\d+ /);
    }
  });

  it('DPOP-2 never throws anything but GatewayError, whatever the input', async () => {
    const weird: unknown[] = [[undefined], [null], [42], [{}], ['a.b.c'], ['e30.e30.e30'], ['\u0000.\u0000.\u0000']];
    for (const proofs of weird) {
      const err = await V.verify(input(proofs as string[]), NOW_MS).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('GW_DPOP_PROOF_INVALID');
    }
  });

  it('DPOP-4 / DPOP-11 the constructor refuses unsupported algorithms and a future window above 60 s', () => {
    expect(() => verifier({ algorithms: ['RS256'] })).toThrow();
    expect(() => verifier({ algorithms: ['HS256'] })).toThrow();
    expect(() => verifier({ algorithms: [] })).toThrow();
    expect(() => verifier({ iatFutureS: 61 })).toThrow();
    expect(() => verifier({ iatFutureS: 60 })).not.toThrow();
  });

  it('DPOP-6 a cached key is reused across proofs and different keys never collide', async () => {
    const v = verifier();
    for (let i = 0; i < 3; i++) {
      expect((await v.verify(input([await proof(es)]), NOW_MS)).jkt).toBe(es.jkt);
      expect((await v.verify(input([await proof(other)], {}, other.jkt), NOW_MS)).jkt).toBe(other.jkt);
    }
    // A cached key does not let a proof signed by another key through.
    await rejects(v, input([await proof({ ...other, jwk: es.jwk })]), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
  });

  it('DPOP-6 / DPOP-14 only the key of a proof that passed every check is cached (found in review: throwaway keys evicted the ones in use)', async () => {
    const v = verifier();
    const cached = (): number => (v as unknown as { keys: Map<string, unknown> }).keys.size;
    await v.verify(input([await proof(es)]), NOW_MS);
    expect(cached()).toBe(1);
    for (let i = 0; i < 3; i++) {
      // A valid signature by a fresh key that no token is bound to.
      await rejects(v, input([await proof(await makeSigner('ES256'))]), 'GW_DPOP_KEY_MISMATCH', /^DPOP-14 /);
    }
    // A key never seen, with a signature it did not make.
    const fresh = await makeSigner('ES256');
    await rejects(v, input([await proof({ ...other, jwk: fresh.jwk })], {}, fresh.jkt), 'GW_DPOP_PROOF_INVALID', /^DPOP-6 /);
    expect(cached()).toBe(1);
    await v.verify(input([await proof(other)], {}, other.jkt), NOW_MS);
    expect(cached()).toBe(2);
  });
});
