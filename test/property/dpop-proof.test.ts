// Property-based: DPoP proof verification (binding/dpop-proof.ts, RFC 9449 §4.3). Arbitrary strings,
// arbitrary JSON header and payload segments (signed with a real key or not), and proofs mutated one field
// at a time from a valid one. verify() must only ever reject with a catalog GatewayError from the DPoP set,
// never fall back on its "unexpected" wrapper, and accept exactly what an independent RFC 9449 oracle accepts.
import { createHash, generateKeyPairSync, sign as nodeSign, constants, type KeyObject, type JsonWebKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DpopVerifier, DPOP_DEFAULTS, MAX_PROOF_CHARS, type DpopProofInput } from '../../src/binding/dpop-proof.js';
import { expectedHtu, normalizeHtu } from '../../src/binding/htu.js';
import { CATALOG, type ErrorCode } from '../../src/errors/catalog.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { checkProperty } from '../../scripts/lib/hardening-property.js';

const fig = figures('property-dpop-proof');
const DPOP_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['GW_DPOP_PROOF_INVALID', 'GW_DPOP_KEY_MISMATCH', 'GW_DPOP_NONCE_REQUIRED']);
const UNEXPECTED = 'DPoP proof processing failed unexpectedly';

const NOW_MS = 1_760_000_000_000;
const NOW_S = NOW_MS / 1000;
const PAST_S = 300;
const FUTURE_S = 10;
const TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const ATH = createHash('sha256').update(TOKEN).digest('base64url');
const HTU_RAW = 'https://api.test/dpop/1';
const HTU = expectedHtu('https://api.test', '/dpop/1');
const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

type Json = Record<string, unknown>;
type Family = 'EC' | 'OKP' | 'RSA';
interface Signer {
  readonly family: Family;
  readonly algs: readonly string[];
  readonly privateKey: KeyObject;
  readonly jwk: JsonWebKey;
  readonly jkt: string;
  sign(input: Buffer): Buffer;
}

function canonical(jwk: JsonWebKey): string {
  if (jwk.kty === 'EC') return JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  if (jwk.kty === 'RSA') return JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
  return JSON.stringify({ crv: jwk.crv, kty: 'OKP', x: jwk.x });
}

function signer(family: Family): Signer {
  const { privateKey, publicKey } =
    family === 'EC'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : family === 'OKP'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    family,
    algs: family === 'EC' ? ['ES256'] : family === 'OKP' ? ['EdDSA', 'Ed25519'] : ['PS256'],
    privateKey,
    jwk,
    jkt: createHash('sha256').update(canonical(jwk)).digest('base64url'),
    sign: (input) =>
      family === 'EC'
        ? nodeSign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        : family === 'OKP'
          ? nodeSign(null, input, privateKey)
          : nodeSign('sha256', input, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
  };
}

const SIGNERS = [signer('EC'), signer('OKP'), signer('RSA')] as const;
const OTHER = signer('EC');
const verifier = new DpopVerifier({ algorithms: DPOP_DEFAULTS.algorithms, iatPastS: PAST_S, iatFutureS: FUTURE_S, keyPrefix: 'prop:' });
const input = (proofs: readonly string[], expectedJkt: string = SIGNERS[0].jkt): DpopProofInput => ({
  proofs,
  method: 'GET',
  htu: HTU,
  accessToken: TOKEN,
  expectedJkt,
  nonceRequired: false,
});

type Verdict = { ok: true; jkt: string; replayKey: string; ttlMs: number } | { ok: false; code: ErrorCode; detail: string };

async function verdict(i: DpopProofInput): Promise<Verdict> {
  try {
    const r = await verifier.verify(i, NOW_MS);
    return { ok: true, jkt: r.jkt, replayKey: r.replayKey, ttlMs: r.ttlMs };
  } catch (e) {
    // Only GatewayError, only catalog codes, only the DPoP set, only 4xx, never the catch-all wrapper.
    expect(e).toBeInstanceOf(GatewayError);
    const g = e as GatewayError;
    expect(Object.hasOwn(CATALOG, g.code), g.code).toBe(true);
    expect(DPOP_CODES.has(g.code), `${g.code}: ${g.message}`).toBe(true);
    expect(g.status).toBe(401);
    expect(g.message).not.toBe(UNEXPECTED);
    return { ok: false, code: g.code, detail: g.message };
  }
}

const jws = (header: unknown, payload: unknown, sign: ((input: Buffer) => Buffer) | Buffer): string => {
  const si = `${b64u(header)}.${b64u(payload)}`;
  const sig = Buffer.isBuffer(sign) ? sign : sign(Buffer.from(si, 'latin1'));
  return `${si}.${sig.toString('base64url')}`;
};

describe('property: DpopVerifier.verify never throws outside the DPoP error set', () => {
  it('arbitrary strings and string lists as DPoP fields -> GW_DPOP_PROOF_INVALID', async () => {
    const b64uSeg = fc.string({ unit: fc.constantFrom(...'ABCxyz019-_'.split('')), minLength: 0, maxLength: 20 });
    const proof = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.tuple(b64uSeg, b64uSeg, b64uSeg).map((s) => s.join('.')),
      fc.tuple(b64uSeg, b64uSeg, b64uSeg, b64uSeg).map((s) => s.join('.')),
      fc.constantFrom('', '.', '..', '...', 'e30.e30.e30', 'e30.e30.', 'bnVsbA.bnVsbA.AA', 'W10.W10.AA', 'x'.repeat(MAX_PROOF_CHARS + 1)),
    );
    await checkProperty(
      fig,
      'DPoP verify: arbitrary strings',
      fc.asyncProperty(fc.array(proof, { maxLength: 3 }), async (proofs) => {
        const v = await verdict(input(proofs));
        expect(v.ok).toBe(false);
        expect((v as { code: ErrorCode }).code).toBe('GW_DPOP_PROOF_INVALID');
      }),
      { numRuns: 2000 },
    );
  });
  it('arbitrary JSON header and payload segments, signed by a real key or not -> refused, DPoP codes only', async () => {
    await checkProperty(
      fig,
      'DPoP verify: arbitrary JSON header+payload, signed or not',
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), fc.constantFrom(...SIGNERS), fc.constantFrom('sign', 'random', 'short'), async (header, payload, s, how) => {
        const proof = jws(header, payload, how === 'sign' ? s.sign : how === 'random' ? Buffer.alloc(64, 7) : Buffer.from([1]));
        const v = await verdict(input([proof], s.jkt));
        expect(v.ok).toBe(false);
      }),
      { numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Proofs mutated from a valid one, judged by an independent reading of RFC 9449 §4.3.

const KEEP = Symbol('keep');
const DROP = Symbol('drop');
type Mut = typeof KEEP | typeof DROP | { readonly value: unknown };
const v = (value: unknown): { value: unknown } => ({ value });
const mut = (near: readonly unknown[]): fc.Arbitrary<Mut> =>
  fc.oneof(
    { weight: 40, arbitrary: fc.constant<Mut>(KEEP) },
    { weight: 1, arbitrary: fc.constant<Mut>(DROP) },
    { weight: 1, arbitrary: fc.jsonValue().map(v) },
    { weight: 3, arbitrary: fc.constantFrom(...near).map(v) },
  );

const claimMuts = fc.record({
  jti: mut(['', 'x'.repeat(256), 'x'.repeat(257), 1, null, ['a'], 'ok-jti']),
  htm: mut(['get', 'POST', 'GET ', ' GET', '', 'HEAD']),
  htu: mut([
    'HTTPS://API.TEST:443/dpop/1', 'https://api.test/dpop/1?x=1#f', 'https://api.test/dpop/./1', 'https://api.test/dpop/x/../1', 'https://api.test/%64pop/1',
    'https://api.test/dpop/2', 'http://api.test/dpop/1', 'https://api.test:8443/dpop/1', 'https://user@api.test/dpop/1', 'https://evil.test/dpop/1',
    '/dpop/1', 'https://api.test/dpop/1/', 'https://api.test/dpop%2F1', '',
  ]),
  iat: mut([NOW_S, NOW_S - PAST_S, NOW_S - PAST_S - 1, NOW_S + FUTURE_S, NOW_S + FUTURE_S + 1, NOW_S + 0.5, String(NOW_S), 1e308, -1, 0, null]),
  ath: mut([ATH.toUpperCase(), `${ATH}=`, createHash('sha256').update(`${TOKEN}x`).digest('base64url'), '', 1]),
  nbf: mut([NOW_S, NOW_S + FUTURE_S, NOW_S + FUTURE_S + 1, null, 'x']),
  exp: mut([NOW_S + 60, NOW_S - FUTURE_S, NOW_S - FUTURE_S + 1, null, 'x']),
  nonce: mut(['n', '', 1]),
});
const headerMuts = fc.record({
  typ: mut(['DPoP+JWT', 'application/dpop+jwt', 'Application/DPoP+JWT', 'jwt', 'at+jwt', 'dpop+jwt ', '', null]),
  alg: mut(['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256', 'none', 'HS256', 'es256', '', null]),
  crit: mut([[], ['exp'], 'b64', null]),
  kid: mut(['k1', '', 7]),
  jwk: mut(['other-key', 'with-d', 'with-k', 'with-kid', 'as-array', 'x-not-b64u', 'padded-x', 'crv-P384', 'kty-oct', {}]),
});

interface Case {
  readonly signer: Signer;
  readonly claims: Record<string, Mut>;
  readonly header: Record<string, Mut>;
  readonly signature: 'correct' | 'other-key' | 'flipped' | 'empty' | 'der';
  readonly bound: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  signer: fc.constantFrom(...SIGNERS),
  claims: claimMuts,
  header: headerMuts,
  signature: fc.constantFrom('correct', 'correct', 'correct', 'correct', 'other-key', 'flipped', 'empty', 'der'),
  bound: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
}) as fc.Arbitrary<Case>;

function jwkFor(m: Mut, s: Signer): unknown {
  if (m === KEEP) return s.jwk;
  if (m === DROP) return undefined;
  switch (m.value) {
    case 'other-key': return OTHER.jwk;
    case 'with-d': return { ...s.jwk, d: 'AAAA' };
    case 'with-k': return { ...s.jwk, k: 'AAAA' };
    case 'with-kid': return { ...s.jwk, kid: 'k1', use: 'sig', alg: s.algs[0] };
    case 'as-array': return [s.jwk];
    case 'x-not-b64u': return s.family === 'RSA' ? { ...s.jwk, n: `${String(s.jwk.n)}+` } : { ...s.jwk, x: `${String(s.jwk.x)}+` };
    case 'padded-x': return s.family === 'RSA' ? { ...s.jwk, n: `${String(s.jwk.n)}=` } : { ...s.jwk, x: `${String(s.jwk.x)}=` };
    case 'crv-P384': return { ...s.jwk, crv: 'P-384' };
    case 'kty-oct': return { ...s.jwk, kty: 'oct' };
    default: return m.value;
  }
}

function build(c: Case): { header: Json; payload: Json } {
  const s = c.signer;
  const base: Json = { jti: 'jti-1', htm: 'GET', htu: HTU_RAW, iat: NOW_S, ath: ATH };
  const payload: Json = {};
  for (const name of ['jti', 'htm', 'htu', 'iat', 'ath', 'nbf', 'exp', 'nonce']) {
    const m = c.claims[name] as Mut;
    if (m === KEEP) {
      if (name in base) payload[name] = base[name];
    } else if (m !== DROP) payload[name] = m.value;
  }
  const header: Json = {};
  const hm = c.header;
  const typ = hm.typ as Mut;
  if (typ === KEEP) header.typ = 'dpop+jwt';
  else if (typ !== DROP) header.typ = typ.value;
  const alg = hm.alg as Mut;
  if (alg === KEEP) header.alg = s.algs[0];
  else if (alg !== DROP) header.alg = alg.value;
  const crit = hm.crit as Mut;
  if (crit !== KEEP && crit !== DROP) header.crit = crit.value;
  const kid = hm.kid as Mut;
  if (kid !== KEEP && kid !== DROP) header.kid = kid.value;
  const jwk = jwkFor(hm.jwk as Mut, s);
  if (jwk !== undefined) header.jwk = jwk;
  return { header, payload };
}

function sameKey(jwk: unknown, s: Signer): boolean {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return false;
  const j = jwk as Json;
  if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'].some((m) => Object.hasOwn(j, m))) return false;
  const want = s.jwk as Json;
  const members = s.family === 'EC' ? ['kty', 'crv', 'x', 'y'] : s.family === 'OKP' ? ['kty', 'crv', 'x'] : ['kty', 'n', 'e'];
  return members.every((m) => j[m] === want[m]);
}

const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * RFC 9449 §4.3 read independently: would a correct resource server accept this proof for GET HTU? The
 * key of a valid proof (the signer's, or OTHER's when the header names OTHER and OTHER signed), else undefined.
 */
function rfcProofKey(c: Case, header: Json, payload: Json, proof: string): Signer | undefined {
  const key = sameKey(header.jwk, c.signer) ? c.signer : sameKey(header.jwk, OTHER) ? OTHER : undefined;
  if (key === undefined) return undefined;
  const signedByKey = key === c.signer ? c.signature === 'correct' : c.signature === 'other-key';
  return rfcValid(key, signedByKey, header, payload, proof) ? key : undefined;
}

function rfcValid(s: Signer, signedByKey: boolean, header: Json, payload: Json, proof: string): boolean {
  if (proof.length > MAX_PROOF_CHARS) return false;
  if (typeof header.typ !== 'string' || !['dpop+jwt', 'application/dpop+jwt'].includes(header.typ.toLowerCase())) return false;
  if (typeof header.alg !== 'string' || !s.algs.includes(header.alg)) return false;
  if (header.crit !== undefined) return false;
  if (!signedByKey) return false;
  const { jti, htm, htu, iat, ath, nbf, exp } = payload;
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) return false;
  if (htm !== 'GET') return false;
  if (typeof htu !== 'string' || normalizeHtu(htu) !== HTU) return false;
  if (!num(iat) || iat < NOW_S - PAST_S || iat > NOW_S + FUTURE_S) return false;
  if (ath !== ATH) return false;
  if ('nbf' in payload && (!num(nbf) || nbf > NOW_S + FUTURE_S)) return false;
  if ('exp' in payload && (!num(exp) || exp <= NOW_S - FUTURE_S)) return false;
  return true;
}

function signatureFor(c: Case): ((i: Buffer) => Buffer) | Buffer {
  switch (c.signature) {
    case 'correct': return c.signer.sign;
    case 'other-key': return OTHER.sign;
    case 'flipped': return (i) => { const b = c.signer.sign(i); b[0] = (b[0] as number) ^ 1; return b; };
    case 'empty': return Buffer.alloc(0);
    case 'der': return (i) => nodeSign('sha256', i, { key: OTHER.privateKey, dsaEncoding: 'der' });
  }
}

describe('property: DpopVerifier.verify agrees with an RFC 9449 §4.3 oracle on mutated proofs', () => {
  it('accepts exactly what the oracle accepts; a valid proof for another key is GW_DPOP_KEY_MISMATCH; everything else GW_DPOP_PROOF_INVALID', async () => {
    let accepted = 0;
    let mismatched = 0;
    await checkProperty(
      fig,
      'DPoP verify: mutated proofs vs RFC 9449 oracle',
      fc.asyncProperty(caseArb, async (c) => {
        const { header, payload } = build(c);
        const proof = jws(header, payload, signatureFor(c));
        const expectedJkt = c.bound ? c.signer.jkt : OTHER.jkt;
        const got = await verdict(input([proof], expectedJkt));
        const key = rfcProofKey(c, header, payload, proof);
        if (key === undefined) {
          expect(got, JSON.stringify({ header, payload, sig: c.signature })).toMatchObject({ ok: false, code: 'GW_DPOP_PROOF_INVALID' });
        } else if (key.jkt !== expectedJkt) {
          mismatched++;
          expect(got).toMatchObject({ ok: false, code: 'GW_DPOP_KEY_MISMATCH' });
        } else {
          accepted++;
          expect(got, JSON.stringify({ header, payload })).toMatchObject({ ok: true, jkt: key.jkt, ttlMs: (PAST_S + FUTURE_S) * 1000 + 10_000 });
          expect((got as { replayKey: string }).replayKey).toMatch(/^prop:[0-9a-f]{64}$/);
        }
      }),
      { numRuns: 2500 },
    );
    fig.list('dpop-oracle', { accepted, keyMismatch: mismatched });
    // The generator must actually reach the accepting side, or the property says little.
    expect(accepted).toBeGreaterThan(50);
    expect(mismatched).toBeGreaterThan(10);
  });
});
