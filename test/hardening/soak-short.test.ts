// A short soak for CI (npm run soak is the long one): about 7 s of mTLS + DPoP load against the gateway
// in a child process (--expose-gc). The heap after warm-up must not grow by more than 20 MB (after a
// forced GC at both ends), every answer must be the expected one, and once the load stops the open file
// descriptors return to their baseline and no upstream connection is left open.
import { describe, expect, it } from 'vitest';
import { figures } from '../../scripts/lib/hardening-figures.js';
import { runSoak } from '../../scripts/lib/soak-load.js';

const fig = figures('soak-short');

describe('soak (short)', () => {
  it('7 s of sustained mTLS + DPoP load: no unexpected answer, heap plateau (< 20 MB growth after warm-up), fds back to baseline', async () => {
    const r = await runSoak({ seconds: 7, concurrency: 3, warmupS: 3 });
    fig.set('soak', r);
    console.log(
      `soak-short: ${r.requests} requests (${r.rps}/s), ${r.errors} unexpected; heap ${r.memory.warmHeapMB} -> ${r.memory.endHeapMB} MB ` +
        `(growth ${r.memory.heapGrowthAfterWarmupMB} MB); RSS ${r.memory.baselineRssMB} -> ${r.memory.endRssMB} MB; fds ${r.fds.baseline} -> peak ${r.fds.peak} -> ${r.fds.end}; ` +
        `p99 per second ${r.rows.map((x) => x.p99Ms).join(' ')} ms`,
    );
    expect(r.gatewayAlive).toBe(true);
    expect(r.memory.gcAvailable).toBe(true);
    expect(r.errorSamples).toEqual([]);
    expect(r.errors).toBe(0);
    expect(r.ok).toBeGreaterThan(500);
    expect(r.refusedAsExpected).toBeGreaterThan(10);
    expect(r.memory.heapGrowthAfterWarmupMB).toBeLessThan(20);
    expect(r.fds.end).toBeLessThanOrEqual(r.fds.baseline);
    expect(r.upstreamOpenAfter).toBe(0);
  }, 60_000);
});
