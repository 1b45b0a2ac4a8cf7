// Single-use store for DPoP `jti` values (DPOP-21). The claim is made last in the pipeline.
import { GatewayError } from '../errors/gateway-error.js';

export interface ReplayStore {
  /** Atomically records `key` for `ttlMs`: true on first use, false on a replay. Throws GatewayError when unavailable. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** claim() without a promise, for stores that answer in-process (undefined method: use claim). */
  claimNow?(key: string, ttlMs: number): boolean;
  /**
   * DPOP-21: the time (ms) since which the store remembers every claim (a restart, a Redis that lost its
   * data forget what came before).
   */
  readonly rememberedSinceMs: number;
  /**
   * The DPoP future allowance (dpop.iat_future_s, ms) when the store began: a proof accepted before its
   * memory began could carry an `iat` up to this much later (a client clock running fast).
   */
  readonly futureAllowanceMs: number;
  /** Health for readiness: false instead of throwing. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The first `iat` (ms) no proof accepted before the store's memory began can carry. */
export const trustedFromMs = (store: ReplayStore): number => store.rememberedSinceMs + store.futureAllowanceMs;

/**
 * DPOP-21: a proof that could have been accepted before the store's memory began (its `iat`, less the
 * future allowance then in force, is earlier) may have been used and forgotten: refused.
 */
export function checkRemembered(store: ReplayStore, iatS: number): void {
  if (iatS * 1000 >= trustedFromMs(store)) return;
  throw new GatewayError(
    'GW_DPOP_PROOF_PREDATES_STORE',
    `DPOP-21 proof iat ${iatS} is before ${new Date(trustedFromMs(store)).toISOString()}: the replay store remembers from ${new Date(store.rememberedSinceMs).toISOString()}, and iat_future_s later`,
  );
}
