// Single-use store for DPoP `jti` values (DPOP-21). The claim is made last in the pipeline.

export interface ReplayStore {
  /** Atomically records `key` for `ttlMs`: true on first use, false on a replay. Throws GatewayError when unavailable. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** claim() without a promise, for stores that answer in-process (undefined method: use claim). */
  claimNow?(key: string, ttlMs: number): boolean;
  /** Health for readiness: false instead of throwing. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
