import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { p1363ToDer } from '../../../src/binding/dpop-proof.js';

describe('DPOP-6: ES256 signatures converted from JWS r||s to DER for node:crypto', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  it('2000 real signatures (leading zeros and high bits included) verify after conversion', () => {
    let leadingZero = 0;
    let highBit = 0;
    for (let i = 0; i < 2000; i++) {
      const data = Buffer.from(`proof ${i}`);
      const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      if (raw[0] === 0 || raw[32] === 0) leadingZero++;
      if ((raw[0] as number) >= 0x80 || (raw[32] as number) >= 0x80) highBit++;
      expect(verify('sha256', data, publicKey, p1363ToDer(raw))).toBe(true);
      expect(verify('sha256', Buffer.from(`other ${i}`), publicKey, p1363ToDer(raw))).toBe(false);
    }
    expect(highBit).toBeGreaterThan(0);
    expect(leadingZero).toBeGreaterThan(0);
  });
  it('encodes the DER edge cases exactly', () => {
    const r = Buffer.alloc(32);
    r[31] = 1;
    const s = Buffer.alloc(32, 0xff);
    // SEQUENCE(38) { INTEGER 1 (leading zeros dropped), INTEGER 0x00ff..ff (sign byte added) }
    expect(p1363ToDer(Buffer.concat([r, s])).toString('hex')).toBe(`3026020101022100${'ff'.repeat(32)}`);
  });
});
