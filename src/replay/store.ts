// Single-use store for DPoP `jti` values (DPOP-21). The claim is made last in the pipeline.
import { GatewayError } from '../errors/gateway-error.js';

export interface ReplayStore {
  /** Atomically records `key` for `ttlMs`: true on first use, false on a replay. Throws GatewayError when unavailable. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** claim() without a promise, for stores that answer in-process (undefined method: use claim). */
  claimNow?(key: string, ttlMs: number): boolean;
  /**
   * DPOP-21: the time (ms) since which the store remembers every claim: a proof issued before it may
   * have been used and forgotten (a restart, a Redis that lost its data), so it cannot be accepted.
   */
  readonly rememberedSinceMs: number;
  /** Health for readiness: false instead of throwing. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** DPOP-21: a proof issued before the store's memory begins may have been used and forgotten. */
export function checkRemembered(store: ReplayStore, iatS: number): void {
  if (iatS * 1000 >= store.rememberedSinceMs) return;
  throw new GatewayError('GW_DPOP_PROOF_PREDATES_STORE', `DPOP-21 proof iat ${iatS} is before the replay store remembers (${new Date(store.rememberedSinceMs).toISOString()})`);
}
