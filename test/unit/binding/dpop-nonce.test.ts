import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DpopNonces } from '../../../src/binding/dpop-nonce.js';

const S1 = randomBytes(32);
const S2 = randomBytes(32);
const T0 = 1_700_000_000_000;
// RFC 9449 §8.1: nonce = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E.
const NQCHARS = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

describe('DpopNonces (DPOP-24..DPOP-26)', () => {
  it('DPOP-26 issues non-empty NQCHAR-only nonces that verify', () => {
    const n = new DpopNonces({ secrets: [S1] });
    const nonce = n.issue(T0);
    expect(nonce).toMatch(NQCHARS);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(n.verify(nonce, T0)).toBe(true);
  });

  it('DPOP-26 nonces are unpredictable: they depend on the secret', () => {
    const a = new DpopNonces({ secrets: [S1] }).issue(T0);
    const b = new DpopNonces({ secrets: [S2] }).issue(T0);
    expect(a).not.toBe(b);
    expect(new DpopNonces({ secrets: [S2] }).verify(a, T0)).toBe(false);
  });

  it('DPOP-26 a nonce changes with the time step', () => {
    const n = new DpopNonces({ secrets: [S1], stepS: 60 });
    expect(n.issue(T0)).not.toBe(n.issue(T0 + 60_000));
  });

  it('DPOP-26 stateless: another replica with the same secret verifies it', () => {
    const nonce = new DpopNonces({ secrets: [S1] }).issue(T0);
    expect(new DpopNonces({ secrets: [Buffer.from(S1)] }).verify(nonce, T0 + 1000)).toBe(true);
  });

  it('DPOP-24 accepts nonces within the window and refuses older ones', () => {
    const n = new DpopNonces({ secrets: [S1], stepS: 60, windowS: 300 });
    const stepStart = Math.floor(T0 / 60_000) * 60_000;
    const nonce = n.issue(stepStart);
    expect(n.verify(nonce, stepStart + 299_999)).toBe(true);
    expect(n.verify(nonce, stepStart + 300_000)).toBe(false);
    expect(n.verify(nonce, stepStart + 3_600_000)).toBe(false);
  });

  it('DPOP-24 tolerates one step of replica clock skew, not more', () => {
    const n = new DpopNonces({ secrets: [S1], stepS: 60 });
    expect(n.verify(n.issue(T0 + 60_000), T0)).toBe(true);
    expect(n.verify(n.issue(T0 + 180_000), T0)).toBe(false);
  });

  it('DPOP-26 rotation: the first secret signs, every secret verifies', () => {
    const old = new DpopNonces({ secrets: [S1] });
    const rotated = new DpopNonces({ secrets: [S2, S1] });
    const fromOld = old.issue(T0);
    expect(rotated.verify(fromOld, T0)).toBe(true);
    const fromNew = rotated.issue(T0);
    expect(fromNew).not.toBe(fromOld);
    expect(new DpopNonces({ secrets: [S2] }).verify(fromNew, T0)).toBe(true);
    expect(old.verify(fromNew, T0)).toBe(false);
  });

  it('DPOP-26 refuses tampered, truncated, re-spelled and foreign nonces', () => {
    const n = new DpopNonces({ secrets: [S1] });
    const nonce = n.issue(T0);
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    expect(n.verify(flip(nonce, 2), T0)).toBe(false); // step bytes
    expect(n.verify(flip(nonce, 20), T0)).toBe(false); // MAC bytes
    expect(n.verify(nonce.slice(0, -1), T0)).toBe(false);
    expect(n.verify(`${nonce}A`, T0)).toBe(false);
    expect(n.verify('', T0)).toBe(false);
    expect(n.verify('x'.repeat(nonce.length), T0)).toBe(false);
    expect(n.verify(`${nonce.slice(0, -1)}+`, T0)).toBe(false);
    // Same bytes, different spelling of the last character's unused bits.
    const raw = Buffer.from(nonce, 'base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(nonce.at(-1) as string);
    const respelled = nonce.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(respelled, 'base64url').equals(raw)).toBe(true);
    expect(n.verify(respelled, T0)).toBe(false);
  });

  it('DPOP-26 refuses a secret shorter than 32 bytes and an empty secret list', () => {
    expect(() => new DpopNonces({ secrets: [] })).toThrow();
    expect(() => new DpopNonces({ secrets: [Buffer.alloc(16, 1)] })).toThrow();
    expect(() => new DpopNonces({ secrets: [S1], stepS: 0 })).toThrow();
    expect(() => new DpopNonces({ secrets: [S1], stepS: 60, windowS: 30 })).toThrow();
  });
});
