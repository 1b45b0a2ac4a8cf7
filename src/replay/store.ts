// Single-use store for DPoP `jti` values (DPOP-21). The claim is made last in the pipeline.

export interface ReplayStore {
  /** Atomically records `key` for `ttlMs`: true on first use, false on a replay. Throws GatewayError when unavailable. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /** Health for readiness: false instead of throwing. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
