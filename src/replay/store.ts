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
   * memory began could carry an `iat` up to this much later (a client clock running fast). The process's
   * ReplayClock, when given, knows better: the largest allowance in force before a given time.
   */
  readonly futureAllowanceMs: number;
  /** Health for readiness: false instead of throwing. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The first `iat` (ms) no proof accepted before the store's memory began can carry. */
export const trustedFromMs = (store: ReplayStore, clock?: ReplayClock): number =>
  store.rememberedSinceMs + (clock === undefined ? store.futureAllowanceMs : clock.allowanceBefore(store.rememberedSinceMs));

/**
 * A backward step of the wall clock (NTP, a VM resumed) by more than this outlasts what a replay record
 * adds to its proof's iat window (binding/dpop-proof.ts REPLAY_TTL_MARGIN_MS: a proof dated iat_future_s
 * ahead is acceptable until its record has only this much left): a proof used before the step could
 * enter its window again after its record expired.
 */
const STEP_BACK_TOLERATED_MS = 10_000;

/** Allowance changes kept (a reload each); older ones merge into the first, keeping its maximum. */
const ALLOWANCE_HISTORY = 32;

/**
 * An allowance out of force longer than this before a floor cannot matter to it: a proof accepted
 * under it is dated at most that allowance (config maximum 60 s) after its acceptance, and requests
 * judged under an older config finish (a replaced store is closed 30 s after a reload).
 */
const ALLOWANCE_REACH_MS = 120_000;

/**
 * One per process (main.ts), across reloads and stores, for the DPOP-21 floors:
 * - dpop.iat_future_s over time: a proof accepted at time t may carry an `iat` up to the allowance
 *   then in force later than t, so a floor at time T must add the largest allowance in force before T;
 * - the wall clock against the monotonic one: replay records count real time, DPoP iat windows the
 *   wall clock; after the wall clock stepped back further than STEP_BACK_TOLERATED_MS, proofs issued
 *   before the time it stepped back from may have been used and their records expired.
 */
export class ReplayClock {
  private readonly allowances: { fromMs: number; ms: number }[];
  /** The largest offset of the wall clock over the monotonic one seen (a step back lowers the offset). */
  private offsetMs: number;
  private stepFloorMs = Number.NEGATIVE_INFINITY;

  constructor(
    futureAllowanceMs: number,
    private readonly now: () => number = Date.now,
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.allowances = [{ fromMs: Number.NEGATIVE_INFINITY, ms: futureAllowanceMs }];
    this.offsetMs = now() - monotonic();
  }

  /** A config that took effect now (an accepted reload) has this dpop.iat_future_s (ms). */
  setFutureAllowance(ms: number): void {
    const a = this.allowances;
    if (a[a.length - 1]?.ms === ms) return;
    a.push({ fromMs: this.now(), ms });
    if (a.length > ALLOWANCE_HISTORY) {
      const [first, second] = a.splice(0, 2) as [{ fromMs: number; ms: number }, { fromMs: number; ms: number }];
      a.unshift({ fromMs: first.fromMs, ms: Math.max(first.ms, second.ms) });
    }
  }

  /** The largest future allowance in force before `tMs`, but not ended ALLOWANCE_REACH_MS before it. */
  allowanceBefore(tMs: number): number {
    const a = this.allowances;
    let max = 0;
    for (let i = 0; i < a.length; i++) {
      const { fromMs, ms } = a[i] as { fromMs: number; ms: number };
      const endMs = a[i + 1]?.fromMs ?? Number.POSITIVE_INFINITY;
      if (fromMs < tMs && endMs > tMs - ALLOWANCE_REACH_MS && ms > max) max = ms;
    }
    return max;
  }

  /** The wall time proofs must not predate because of a step back (-Infinity: none seen). */
  stepFloor(): number {
    const mono = this.monotonic();
    const offsetMs = this.now() - mono;
    if (offsetMs > this.offsetMs) this.offsetMs = offsetMs;
    else if (this.offsetMs - offsetMs > STEP_BACK_TOLERATED_MS) {
      // What the clock would show without the step.
      this.stepFloorMs = Math.max(this.stepFloorMs, mono + this.offsetMs);
      this.offsetMs = offsetMs;
    }
    return this.stepFloorMs;
  }
}

/**
 * DPOP-21: a proof that could have been accepted before the store's memory began (its `iat`, less the
 * future allowance then in force, is earlier) may have been used and forgotten: refused. So may one
 * issued before the time the wall clock stepped back from (`clock`), until it passes that time again.
 */
export function checkRemembered(store: ReplayStore, iatS: number, clock?: ReplayClock): void {
  const iatMs = iatS * 1000;
  const trusted = trustedFromMs(store, clock);
  if (iatMs < trusted) {
    throw new GatewayError(
      'GW_DPOP_PROOF_PREDATES_STORE',
      `DPOP-21 proof iat ${iatS} is before ${new Date(trusted).toISOString()}: the replay store remembers from ${new Date(store.rememberedSinceMs).toISOString()}, and iat_future_s later`,
    );
  }
  if (clock === undefined) return;
  const stepFloorMs = clock.stepFloor();
  if (stepFloorMs === Number.NEGATIVE_INFINITY) return;
  const from = stepFloorMs + clock.allowanceBefore(stepFloorMs);
  if (iatMs < from) {
    throw new GatewayError(
      'GW_DPOP_PROOF_PREDATES_STORE',
      `DPOP-21 proof iat ${iatS} is before ${new Date(from).toISOString()}: the wall clock stepped back from ${new Date(stepFloorMs).toISOString()}, further than replay records outlive their proofs`,
    );
  }
}
