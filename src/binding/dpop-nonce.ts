// Stateless server nonces for DPoP (DPOP-24..DPOP-26): any replica sharing the secret can verify,
// so no nonce store is needed. Nonce = base64url(step || HMAC-SHA256(secret, label || step)).
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface DpopNonceOptions {
  /** The first secret signs; all verify, so a secret can be rotated without rejecting live nonces. */
  readonly secrets: readonly Buffer[];
  readonly stepS?: number;
  readonly windowS?: number;
}

const STEP_BYTES = 6;
const MAC_BYTES = 32;
const NONCE_BYTES = STEP_BYTES + MAC_BYTES;
// base64url of 38 bytes, no padding.
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);
// Domain separation: the same secret used for something else must not yield valid nonces.
const LABEL = Buffer.from('fapi-gateway dpop-nonce v1\0');
export const MIN_NONCE_SECRET_BYTES = 32;

export class DpopNonces {
  private readonly secrets: readonly Buffer[];
  private readonly stepMs: number;
  private readonly windowMs: number;
  private cached: { step: number; nonce: string } | undefined;

  constructor(opts: DpopNonceOptions) {
    const stepS = opts.stepS ?? 60;
    const windowS = opts.windowS ?? 300;
    if (opts.secrets.length === 0) throw new TypeError('DpopNonces needs at least one secret');
    for (const s of opts.secrets) {
      if (s.length < MIN_NONCE_SECRET_BYTES) throw new TypeError(`DPoP nonce secrets must be at least ${MIN_NONCE_SECRET_BYTES} bytes`);
    }
    if (!Number.isInteger(stepS) || stepS <= 0) throw new RangeError('stepS must be a positive integer');
    if (!Number.isInteger(windowS) || windowS < stepS) throw new RangeError('windowS must be an integer >= stepS');
    this.secrets = opts.secrets.map((s) => Buffer.from(s));
    this.stepMs = stepS * 1000;
    this.windowMs = windowS * 1000;
  }

  /** The nonce for the current step; identical for every caller within a step, so it is cached. */
  issue(nowMs: number = Date.now()): string {
    const step = this.step(nowMs);
    if (this.cached?.step === step) return this.cached.nonce;
    const stepBuf = Buffer.alloc(STEP_BYTES);
    stepBuf.writeUIntBE(step, 0, STEP_BYTES);
    const nonce = Buffer.concat([stepBuf, this.mac(this.secrets[0] as Buffer, stepBuf)]).toString('base64url');
    this.cached = { step, nonce };
    return nonce;
  }

  /** True when the nonce was issued with a configured secret within the window. */
  verify(nonce: string, nowMs: number = Date.now()): boolean {
    if (typeof nonce !== 'string' || nonce.length !== NONCE_CHARS || !/^[A-Za-z0-9_-]+$/.test(nonce)) return false;
    const raw = Buffer.from(nonce, 'base64url');
    // Canonical encoding only: one nonce, one spelling.
    if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return false;
    const stepBuf = raw.subarray(0, STEP_BYTES);
    const step = stepBuf.readUIntBE(0, STEP_BYTES);
    // One step ahead is tolerated for clock skew between replicas; at most window_s from the start of
    // the nonce's step (whole steps would stretch a window that is not a multiple of step_s).
    if (this.step(nowMs) - step < -1 || nowMs - step * this.stepMs >= this.windowMs) return false;
    const given = raw.subarray(STEP_BYTES);
    let ok = false;
    // Every secret is tried, so timing does not reveal which one matched.
    for (const secret of this.secrets) {
      if (timingSafeEqual(this.mac(secret, stepBuf), given)) ok = true;
    }
    return ok;
  }

  private step(nowMs: number): number {
    return Math.floor(nowMs / this.stepMs);
  }

  private mac(secret: Buffer, stepBuf: Buffer): Buffer {
    return createHmac('sha256', secret).update(LABEL).update(stepBuf).digest();
  }
}
