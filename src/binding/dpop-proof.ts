// DPoP proof checks at the resource server (RFC 9449 §4.3, §7.1; DPOP-1..DPOP-14, DPOP-23..DPOP-28),
// as small named functions called in the RFC's order. The replay claim is not made here: the
// gateway makes it last (DPOP-21), with the key and TTL this returns.
import { constants, createPublicKey, hash, verify as verifySignature, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors/gateway-error.js';
import type { DpopNonces } from './dpop-nonce.js';
import { normalizeHtu } from './htu.js';

export const SUPPORTED_DPOP_ALGS = ['PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export type DpopAlg = (typeof SUPPORTED_DPOP_ALGS)[number];

export const DPOP_DEFAULTS = Object.freeze({
  algorithms: SUPPORTED_DPOP_ALGS as readonly string[],
  iatPastS: 300,
  iatFutureS: 10,
  keyPrefix: 'fapi:dpop:',
});

/** Larger than any honest proof (RSA-8192 key and a long htu), far below the header-size limit. */
export const MAX_PROOF_CHARS = 8192;
export const MAX_JTI_CHARS = 256;
export const MAX_IAT_FUTURE_S = 60;
const MIN_RSA_BITS = 2048;
// Bounds the cost of one RSA verification an attacker can make us do.
const MAX_RSA_BITS = 8192;
const KEY_CACHE_MAX = 10_000;
const REPLAY_TTL_MARGIN_MS = 10_000;

export interface DpopVerifierOptions {
  /** Allow-list, also advertised in `algs` (DPOP-4, DPOP-29). */
  readonly algorithms: readonly string[];
  readonly iatPastS: number;
  /** Capped at 60 s (DPOP-11). */
  readonly iatFutureS: number;
  /** Replay key prefix, e.g. 'fapi:dpop:'. */
  readonly keyPrefix: string;
  /** Present when the gateway has a nonce secret. */
  readonly nonces?: DpopNonces;
  /**
   * After a reload that widened `iatPastS`: proofs issued before `beforeS` keep the window they were
   * claimed under, because their replay entries expire with it (DPOP-21). See handover().
   */
  readonly earlier?: IatHandover;
}

export interface IatHandover {
  readonly beforeS: number;
  readonly iatPastS: number;
}

export interface DpopProofInput {
  /** Raw `DPoP` header fields as received, counted (DPOP-1). */
  readonly proofs: readonly string[];
  /** Request method; `htm` must match exactly (DPOP-9). */
  readonly method: string;
  /** Expected, already normalised URL (`expectedHtu`). */
  readonly htu: string;
  /** Exact token68 from `Authorization`, for `ath`. */
  readonly accessToken: string;
  /** Hex SHA-256 of `accessToken` when the caller already has it (the token cache key): not hashed again. */
  readonly accessTokenSha256?: string;
  /** `cnf.jkt` of the access token. */
  readonly expectedJkt: string;
  /** Route option: a server nonce is required (DPOP-24). */
  readonly nonceRequired: boolean;
}

export interface DpopProofResult {
  readonly jkt: string;
  readonly replayKey: string;
  readonly ttlMs: number;
  /** The proof's `iat` (s), against the replay store's memory (DPOP-21, checkRemembered). */
  readonly iatS: number;
}

type JsonObject = Record<string, unknown>;

interface CompactJws {
  readonly header: JsonObject;
  readonly payload: JsonObject;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

interface ProofClaims {
  readonly jti: string;
  readonly htm: string;
  readonly htu: string;
  readonly iat: number;
  readonly ath: string;
}

/** A vetted public key: its RFC 7638 members (as canonical JSON) and thumbprint. */
interface ProofKey {
  readonly key: KeyObject;
  readonly jkt: string;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const B64U = /^[A-Za-z0-9_-]+$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const invalid = (detail: string): GatewayError => new GatewayError('GW_DPOP_PROOF_INVALID', detail);
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isB64u = (v: unknown): v is string => typeof v === 'string' && B64U.test(v);
const sha256 = (s: string): Buffer => hash('sha256', s, 'buffer');

/** Decoded bytes when `s` is the canonical (unique) base64url spelling, else undefined. */
function canonicalBytes(s: string): Buffer | undefined {
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : undefined;
}

function decodeJsonObject(segment: string): JsonObject | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return isObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

// §4.3 (1)
function checkSingleProof(proofs: readonly string[]): string {
  if (proofs.length !== 1) throw invalid(`DPOP-1 expected exactly one DPoP header field, got ${proofs.length}`);
  return proofs[0] as string;
}

// §4.3 (2)
function parseCompactJws(proof: string): CompactJws {
  if (proof.length > MAX_PROOF_CHARS) throw invalid(`DPOP-2 proof longer than ${MAX_PROOF_CHARS} characters`);
  if (!COMPACT_JWS.test(proof)) throw invalid('DPOP-2 proof is not a compact JWS of three base64url segments');
  const first = proof.indexOf('.');
  const second = proof.indexOf('.', first + 1);
  const header = decodeJsonObject(proof.slice(0, first));
  if (header === undefined) throw invalid('DPOP-2 proof header is not a JSON object');
  const payload = decodeJsonObject(proof.slice(first + 1, second));
  if (payload === undefined) throw invalid('DPOP-2 proof payload is not a JSON object');
  return {
    header,
    payload,
    signingInput: Buffer.from(proof.slice(0, second), 'latin1'),
    signature: Buffer.from(proof.slice(second + 1), 'base64url'),
  };
}

// §4.3 (3); `ath` is required because the proof comes with an access token (§7).
function checkRequiredClaims(payload: JsonObject): ProofClaims {
  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== 'string' || jti === '') throw invalid('DPOP-8 jti missing or not a non-empty string');
  if (jti.length > MAX_JTI_CHARS) throw invalid(`DPOP-23 jti longer than ${MAX_JTI_CHARS} characters`);
  if (typeof htm !== 'string') throw invalid('DPOP-8 htm missing or not a string');
  if (typeof htu !== 'string') throw invalid('DPOP-8 htu missing or not a string');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('DPOP-8 iat missing or not a number');
  if (typeof ath !== 'string') throw invalid('DPOP-8 ath missing or not a string');
  return { jti, htm, htu, iat, ath };
}

// §4.3 (4); media-type comparison is case-insensitive and may carry `application/` (RFC 7515 §4.1.9).
function checkTyp(header: JsonObject): void {
  const typ = header.typ;
  if (typeof typ !== 'string') throw invalid('DPOP-3 typ missing');
  const t = typ.toLowerCase();
  if (t !== 'dpop+jwt' && t !== 'application/dpop+jwt') throw invalid('DPOP-3 typ is not dpop+jwt');
}

// §4.3 (5): the allow-list only holds asymmetric algorithms, so none/HS*/RS256 fail here.
function checkAlg(header: JsonObject, allowed: ReadonlySet<string>): DpopAlg {
  const alg = header.alg;
  if (typeof alg !== 'string') throw invalid('DPOP-4 alg missing');
  if (!allowed.has(alg)) throw invalid('DPOP-4 alg not in the allow-list');
  return alg as DpopAlg;
}

// RFC 7515 §4.1.11: no extension is understood, so any `crit` is refused.
function checkCrit(header: JsonObject): void {
  if (header.crit !== undefined) throw invalid('DPOP-7 crit header parameter is not supported');
}

/**
 * §4.3 (7) plus the alg/key match (DPOP-5). Returns the RFC 7638 canonical JSON of the key, which is
 * both the cache key and the thumbprint input. Runs before the signature check, which needs a vetted key.
 */
function checkPublicJwk(header: JsonObject, alg: DpopAlg): { jwk: JsonObject; canonical: string } {
  const jwk = header.jwk;
  if (!isObject(jwk)) throw invalid('DPOP-5 jwk missing or not an object');
  for (const m of PRIVATE_JWK_MEMBERS) {
    if (Object.hasOwn(jwk, m)) throw invalid(`DPOP-5 jwk contains the private or symmetric member "${m}"`);
  }
  // Each alg demands its asymmetric kty below, which also refuses `oct`.
  switch (alg) {
    case 'ES256':
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw invalid('DPOP-5 ES256 needs an EC P-256 jwk');
      if (!isB64u(jwk.x) || !isB64u(jwk.y)) throw invalid('DPOP-5 EC jwk x/y missing or not base64url');
      return { jwk, canonical: `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}` };
    case 'PS256':
      if (jwk.kty !== 'RSA') throw invalid('DPOP-5 PS256 needs an RSA jwk');
      if (!isB64u(jwk.n) || !isB64u(jwk.e)) throw invalid('DPOP-5 RSA jwk n/e missing or not base64url');
      return { jwk, canonical: `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}` };
    case 'EdDSA':
    case 'Ed25519':
      if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw invalid(`DPOP-5 ${alg} needs an OKP Ed25519 jwk`);
      if (!isB64u(jwk.x)) throw invalid('DPOP-5 OKP jwk x missing or not base64url');
      return { jwk, canonical: `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}` };
  }
}

/** Sizes and encodings of the key members; only on a cache miss, since a cached key passed already. */
function checkKeyMembers(jwk: JsonObject, alg: DpopAlg): void {
  const fixed = (name: string, len: number): void => {
    const b = canonicalBytes(jwk[name] as string);
    if (b === undefined || b.length !== len) throw invalid(`DPOP-5 jwk ${name} is not ${len} canonical base64url bytes`);
  };
  switch (alg) {
    case 'ES256':
      fixed('x', 32);
      fixed('y', 32);
      return;
    case 'EdDSA':
    case 'Ed25519':
      fixed('x', 32);
      return;
    case 'PS256': {
      const n = canonicalBytes(jwk.n as string);
      const e = canonicalBytes(jwk.e as string);
      if (n === undefined || n.length === 0 || n[0] === 0) throw invalid('DPOP-5 RSA jwk n is not minimal base64url');
      const bits = (n.length - 1) * 8 + (32 - Math.clz32(n[0] as number));
      if (bits < MIN_RSA_BITS) throw invalid(`DPOP-5 RSA key is ${bits} bits, below ${MIN_RSA_BITS}`);
      if (bits > MAX_RSA_BITS) throw invalid(`DPOP-5 RSA key is ${bits} bits, above ${MAX_RSA_BITS}`);
      // A huge public exponent would make verification as slow as signing; e = 1 makes any "signature"
      // of the padded message verify (no private key needed). FIPS 186-5 asks for e >= 65537.
      if (e === undefined || e.length === 0 || e.length > 4 || e[0] === 0 || ((e[e.length - 1] as number) & 1) === 0 || e.readUIntBE(0, e.length) < 65537) {
        throw invalid('DPOP-5 RSA jwk e is not an odd exponent from 65537 up to 32 bits');
      }
      return;
    }
  }
}

function importProofKey(jwk: JsonObject, alg: DpopAlg, canonical: string): ProofKey {
  checkKeyMembers(jwk, alg);
  let key: KeyObject;
  try {
    // Only the RFC 7638 members are imported: nothing else in the header jwk can influence the key.
    key = createPublicKey({ key: JSON.parse(canonical) as JsonObject, format: 'jwk' });
  } catch {
    throw invalid('DPOP-5 jwk is not a valid public key');
  }
  return { key, jkt: sha256(canonical).toString('base64url') };
}

/**
 * RFC 7638 SHA-256 thumbprint of a supported public JWK (EC P-256, RSA, OKP Ed25519), computed the
 * way verify() does. Throws GatewayError GW_DPOP_PROOF_INVALID for anything else.
 */
export function jwkThumbprint(jwk: unknown): string {
  const o = isObject(jwk) ? jwk : {};
  const alg: DpopAlg = o.kty === 'RSA' ? 'PS256' : o.kty === 'OKP' ? 'EdDSA' : 'ES256';
  const { canonical } = checkPublicJwk({ jwk }, alg);
  checkKeyMembers(o, alg);
  return sha256(canonical).toString('base64url');
}

/** JWS ECDSA signatures are raw r||s; node:crypto verifies DER fastest with a bare KeyObject. */
function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return ((v[0] as number) & 0x80) !== 0 ? Buffer.concat([Buffer.of(0x02, v.length + 1, 0), v]) : Buffer.concat([Buffer.of(0x02, v.length), v]);
}

export function p1363ToDer(sig: Buffer): Buffer {
  const half = sig.length / 2;
  const body = Buffer.concat([derInteger(sig.subarray(0, half)), derInteger(sig.subarray(half))]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}

// §4.3 (6): the header jwk and nothing else (no kid/jku/x5c lookups).
function checkSignature(jws: CompactJws, alg: DpopAlg, key: KeyObject): void {
  let ok = false;
  try {
    switch (alg) {
      case 'ES256':
        // JWS ECDSA signatures are raw r||s, not DER.
        ok = jws.signature.length === 64 && verifySignature('sha256', jws.signingInput, key, p1363ToDer(jws.signature));
        break;
      case 'PS256':
        ok = verifySignature('sha256', jws.signingInput, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, jws.signature);
        break;
      case 'EdDSA':
      case 'Ed25519':
        ok = jws.signature.length === 64 && verifySignature(null, jws.signingInput, key, jws.signature);
        break;
    }
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('DPOP-6 signature does not verify with the header jwk');
}

// §4.3 (8): methods are case-sensitive (RFC 9110 §9.1, Q-4).
function checkHtm(claims: ProofClaims, method: string): void {
  if (claims.htm !== method) throw invalid('DPOP-9 htm does not match the request method');
}

// §4.3 (9)
function checkHtu(claims: ProofClaims, expected: string): void {
  // `expected` is already normalised and normalisation is idempotent (property-tested), so an exact
  // match needs no URL parse: the usual case.
  if (claims.htu === expected) return;
  const htu = normalizeHtu(claims.htu);
  if (htu === undefined) throw invalid('DPOP-10 htu is not an absolute http(s) URI without userinfo');
  if (htu !== expected) throw invalid('DPOP-10 htu does not match the request URL');
}

// §4.3 (10). Without the route requiring one, a nonce is just an extra claim (DPOP-28).
function checkNonce(payload: JsonObject, required: boolean, nonces: DpopNonces | undefined, nowMs: number): void {
  if (!required) return;
  if (nonces === undefined) throw new GatewayError('GW_INTERNAL', 'DPOP-24 route requires a DPoP nonce but no nonce secret is configured');
  const nonce = payload.nonce;
  const fresh = (detail: string): GatewayError =>
    new GatewayError('GW_DPOP_NONCE_REQUIRED', detail, { headers: { 'DPoP-Nonce': nonces.issue(nowMs) } });
  if (typeof nonce !== 'string' || nonce === '') throw fresh('DPOP-25 proof carries no nonce');
  if (!nonces.verify(nonce, nowMs)) throw fresh('DPOP-26 nonce is unknown or expired');
}

// §4.3 (11); still enforced with nonces on.
function checkIat(claims: ProofClaims, nowS: number, pastS: number, futureS: number): void {
  if (claims.iat < nowS - pastS) throw invalid(`DPOP-11 iat more than ${pastS} s in the past`);
  if (claims.iat > nowS + futureS) throw invalid(`DPOP-11 iat more than ${futureS} s in the future`);
}

// RFC 7519 semantics when present, with the same skew allowance as iat.
function checkNbfExp(payload: JsonObject, nowS: number, skewS: number): void {
  const { nbf, exp } = payload;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw invalid('DPOP-13 nbf is not a number');
    if (nbf > nowS + skewS) throw invalid('DPOP-13 nbf is in the future');
  }
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('DPOP-13 exp is not a number');
    if (exp <= nowS - skewS) throw invalid('DPOP-13 proof is expired (exp)');
  }
}

// §4.3 (12), first half.
function checkAth(claims: ProofClaims, accessToken: string, knownSha256Hex: string | undefined): void {
  const digest = knownSha256Hex === undefined ? sha256(accessToken) : Buffer.from(knownSha256Hex, 'hex');
  if (claims.ath !== digest.toString('base64url')) throw invalid('DPOP-12 ath does not match the access token');
}

// §4.3 (12), second half: a binding failure, so invalid_token (E3), and checked last.
function checkKeyBinding(jkt: string, expectedJkt: string): void {
  if (jkt !== expectedJkt) throw new GatewayError('GW_DPOP_KEY_MISMATCH', 'DPOP-14 proof key thumbprint does not match cnf.jkt');
}

export class DpopVerifier {
  readonly algs: readonly string[];
  private readonly allowed: ReadonlySet<string>;
  private readonly keys = new Map<string, ProofKey>();

  constructor(private readonly opts: DpopVerifierOptions) {
    const supported: ReadonlySet<string> = new Set(SUPPORTED_DPOP_ALGS);
    if (opts.algorithms.length === 0) throw new TypeError('DPoP algorithm allow-list is empty');
    for (const a of opts.algorithms) {
      if (!supported.has(a)) throw new TypeError(`DPoP algorithm ${a} is not supported`);
    }
    if (!(opts.iatPastS >= 0) || !(opts.iatFutureS >= 0) || opts.iatFutureS > MAX_IAT_FUTURE_S) {
      throw new RangeError(`iatPastS must be >= 0 and iatFutureS within 0..${MAX_IAT_FUTURE_S}`);
    }
    this.algs = Object.freeze([...opts.algorithms]);
    this.allowed = new Set(opts.algorithms);
  }

  /** Rejects with GatewayError only; never touches the replay store. */
  async verify(input: DpopProofInput, nowMs: number = Date.now()): Promise<DpopProofResult> {
    return this.verifyNow(input, nowMs);
  }

  /** verify() without the promise, for the request path: throws GatewayError only. */
  verifyNow(input: DpopProofInput, nowMs: number = Date.now()): DpopProofResult {
    try {
      return this.check(input, nowMs);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('GW_DPOP_PROOF_INVALID', 'DPoP proof processing failed unexpectedly', { cause: err });
    }
  }

  /**
   * What a verifier replacing this one at `nowS` must keep for proofs issued before then: the
   * narrowest past window their replay entries may have been stored under.
   */
  handover(nowS: number): IatHandover {
    const e = this.opts.earlier;
    // Once every proof issued before the earlier reload is out of this window, that rule is moot.
    const moot = e === undefined || nowS >= e.beforeS + this.opts.iatPastS;
    // A proof claimed before now may carry an iat up to iatFutureS ahead of it.
    return { beforeS: nowS + this.opts.iatFutureS, iatPastS: moot ? this.opts.iatPastS : Math.min(e.iatPastS, this.opts.iatPastS) };
  }

  private check(input: DpopProofInput, nowMs: number): DpopProofResult {
    const { iatFutureS, earlier } = this.opts;
    const nowS = nowMs / 1000;
    const proof = checkSingleProof(input.proofs);
    const jws = parseCompactJws(proof);
    const claims = checkRequiredClaims(jws.payload);
    checkTyp(jws.header);
    const alg = checkAlg(jws.header, this.allowed);
    checkCrit(jws.header);
    const { key, jkt, canonical, cached } = this.proofKey(jws.header, alg);
    checkSignature(jws, alg, key);
    checkHtm(claims, input.method);
    checkHtu(claims, input.htu);
    checkNonce(jws.payload, input.nonceRequired, this.opts.nonces, nowMs);
    const iatPastS = earlier !== undefined && claims.iat < earlier.beforeS ? Math.min(earlier.iatPastS, this.opts.iatPastS) : this.opts.iatPastS;
    checkIat(claims, nowS, iatPastS, iatFutureS);
    checkNbfExp(jws.payload, nowS, iatFutureS);
    checkAth(claims, input.accessToken, input.accessTokenSha256);
    checkKeyBinding(jkt, input.expectedJkt);
    if (!cached) this.remember(canonical, { key, jkt });
    return {
      jkt,
      replayKey: this.opts.keyPrefix + hash('sha256', `${jkt}:${claims.jti}`, 'hex'),
      ttlMs: (this.opts.iatPastS + iatFutureS) * 1000 + REPLAY_TTL_MARGIN_MS,
      iatS: claims.iat,
    };
  }

  /** Vetted, imported key from a bounded LRU keyed by the canonical JWK: importing is the slow part. */
  private proofKey(header: JsonObject, alg: DpopAlg): ProofKey & { canonical: string; cached: boolean } {
    const { jwk, canonical } = checkPublicJwk(header, alg);
    const hit = this.keys.get(canonical);
    if (hit !== undefined) {
      this.keys.delete(canonical);
      this.keys.set(canonical, hit);
      return { ...hit, canonical, cached: true };
    }
    return { ...importProofKey(jwk, alg, canonical), canonical, cached: false };
  }

  /**
   * Only the key of a proof that passed every check, bound to a valid access token: proofs signed with
   * fresh throwaway keys (a valid signature is cheap to make) would otherwise evict the keys in use.
   */
  private remember(canonical: string, pk: ProofKey): void {
    if (this.keys.size >= KEY_CACHE_MAX) {
      const oldest = this.keys.keys().next();
      if (oldest.done !== true) this.keys.delete(oldest.value);
    }
    this.keys.set(canonical, pk);
  }
}
