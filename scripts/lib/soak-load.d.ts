// Types for soak-load.js.
export interface SoakRow {
  readonly t: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly rssMB: number;
  readonly heapMB: number;
  readonly heapTotalMB: number;
  readonly externalMB: number;
  readonly fds: number;
  readonly replayEntries: number | null;
  readonly gc: boolean;
}

export interface SoakResult {
  readonly seconds: number;
  readonly loadMs: number;
  readonly concurrency: { readonly mtls: number; readonly dpop: number };
  readonly requests: number;
  readonly ok: number;
  readonly refusedAsExpected: number;
  readonly errors: number;
  readonly transportErrors: number;
  readonly errorSamples: { status: number; expected: number }[];
  readonly statuses: Record<string, number>;
  readonly rps: number;
  readonly p99MsWorstSecond: number;
  readonly p99MsMedianSecond: number;
  readonly memory: {
    readonly baselineHeapMB: number;
    readonly warmHeapMB: number;
    readonly endHeapMB: number;
    readonly heapGrowthAfterWarmupMB: number;
    readonly baselineRssMB: number;
    readonly baselineExternalMB: number;
    readonly endExternalMB: number;
    readonly endHeapTotalMB: number;
    readonly baselineHeapTotalMB: number;
    readonly endRssMB: number;
    readonly peakRssMB: number;
    readonly replayEntriesEnd: number | null;
    readonly replayEntriesWarm: number | null;
    readonly gcAvailable: boolean;
  };
  readonly fds: { readonly baseline: number; readonly peak: number; readonly end: number; readonly settleMs: number };
  readonly upstreamOpenAfter: number;
  readonly gatewayAlive: boolean;
  readonly rows: SoakRow[];
}

export interface SoakOptions {
  readonly seconds?: number;
  readonly concurrency?: number;
  readonly warmupS?: number;
  readonly freshEvery?: number;
  readonly maxRequests?: number;
  onSecond?(row: SoakRow): void;
}

export function runSoak(opts?: SoakOptions): Promise<SoakResult>;
