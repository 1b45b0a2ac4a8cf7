// Found in review (failed on the code before its fix): DPOP-5 — an RSA jwk with e = 1 is not an RSA key; with it anyone can forge a PS256 proof.
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DpopVerifier, DPOP_DEFAULTS } from '../../src/binding/dpop-proof.js';
import { expectedHtu } from '../../src/binding/htu.js';

const AT = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo';
const HTU = expectedHtu('https://api.bank.example', '/accounts/123');
const NOW_MS = 1_760_000_000_500;
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

function mgf1(seed: Buffer, len: number): Buffer {
  const out: Buffer[] = [];
  for (let c = 0; Buffer.concat(out).length < len; c++) {
    const cb = Buffer.alloc(4);
    cb.writeUInt32BE(c);
    out.push(sha(Buffer.concat([seed, cb])));
  }
  return Buffer.concat(out).subarray(0, len);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1), SHA-256, 32-byte salt: with e = 1 this *is* the signature. */
function pssEncode(m: Buffer, modBits: number): Buffer {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(32);
  const h = sha(Buffer.concat([Buffer.alloc(8), sha(m), salt]));
  const db = Buffer.concat([Buffer.alloc(emLen - 32 - 32 - 2), Buffer.of(1), salt]);
  const mask = mgf1(h, emLen - 32 - 1);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  const em = Buffer.concat([db, h, Buffer.of(0xbc)]);
  const k = Math.ceil(modBits / 8);
  return Buffer.concat([Buffer.alloc(k - em.length), em]);
}

describe('review DPOP-5: RSA public exponent edges', () => {
  it('refuses a PS256 proof whose jwk has e=1 (signature forged without any private key)', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const n = publicKey.export({ format: 'jwk' }).n as string;
    const jwk = { kty: 'RSA', n, e: 'AQ' };
    const jkt = createHash('sha256').update(`{"e":"AQ","kty":"RSA","n":"${n}"}`).digest('base64url');
    const header = { typ: 'dpop+jwt', alg: 'PS256', jwk };
    const claims = { jti: randomUUID(), htm: 'GET', htu: HTU, iat: Math.floor(NOW_MS / 1000), ath: ATH };
    const signingInput = `${b64(header)}.${b64(claims)}`;
    // No private key involved: anyone holding the (stolen) token can produce this proof.
    const sig = pssEncode(Buffer.from(signingInput), 2048);
    const proofJws = `${signingInput}.${sig.toString('base64url')}`;
    const v = new DpopVerifier({ ...DPOP_DEFAULTS });
    const r = await v
      .verify({ proofs: [proofJws], method: 'GET', htu: HTU, accessToken: AT, expectedJkt: jkt, nonceRequired: false }, NOW_MS)
      .then(
        () => 'accepted',
        (e: Error) => `refused: ${e.message}`,
      );
    expect(r).toMatch(/^refused: DPOP-5 /);
  });
});
