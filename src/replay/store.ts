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
 * A backward step of the wall clock (NTP, a VM resumed) by more than iat_future_s plus this margin
 * outlasts the replay records' TTL margin (binding/dpop-proof.ts REPLAY_TTL_MARGIN_MS): a proof used
 * before the step could enter its iat window again after its record expired.
 */
const STEP_BACK_TOLERATED_MS = 10_000;

/**
 * Per store: the largest offset seen between the wall clock and the monotonic one (a step back lowers
 * it), and the floor a step back set: the wall time it would be without the step, when it was noticed.
 */
const clocks = new WeakMap<ReplayStore, { offsetMs: number; stepFloorMs: number }>();

/**
 * DPOP-21: a proof that could have been accepted before the store's memory began (its `iat`, less the
 * future allowance then in force, is earlier) may have been used and forgotten: refused. So may one
 * issued before the time the clock showed when it stepped back further than replay records outlive
 * their proofs (the records count real time): refused until the clock passes that time again.
 */
export function checkRemembered(store: ReplayStore, iatS: number, nowMs = Date.now(), monotonicMs = performance.now()): void {
  const offsetMs = nowMs - monotonicMs;
  let clock = clocks.get(store);
  if (clock === undefined) clocks.set(store, (clock = { offsetMs, stepFloorMs: Number.NEGATIVE_INFINITY }));
  else if (offsetMs > clock.offsetMs) clock.offsetMs = offsetMs;
  else if (clock.offsetMs - offsetMs > store.futureAllowanceMs + STEP_BACK_TOLERATED_MS) {
    clock.stepFloorMs = Math.max(clock.stepFloorMs, monotonicMs + clock.offsetMs);
    clock.offsetMs = offsetMs;
  }
  const iatMs = iatS * 1000;
  if (iatMs < trustedFromMs(store)) {
    throw new GatewayError(
      'GW_DPOP_PROOF_PREDATES_STORE',
      `DPOP-21 proof iat ${iatS} is before ${new Date(trustedFromMs(store)).toISOString()}: the replay store remembers from ${new Date(store.rememberedSinceMs).toISOString()}, and iat_future_s later`,
    );
  }
  if (iatMs < clock.stepFloorMs + store.futureAllowanceMs) {
    throw new GatewayError(
      'GW_DPOP_PROOF_PREDATES_STORE',
      `DPOP-21 proof iat ${iatS} is before ${new Date(clock.stepFloorMs + store.futureAllowanceMs).toISOString()}: the wall clock stepped back from that time, further than replay records outlive their proofs`,
    );
  }
}
