// Found in review (failed on the code before its fix): a worker that dies after the cluster started, whose replacement cannot start, stops every
// healthy worker and the primary (failedStart), where before the others kept serving.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { runPrimary } from '../../src/cluster.js';

describe('cluster: a replacement worker that cannot start', () => {
  it('does not take down the worker that is still serving', async () => {
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./flaky-worker.mjs', import.meta.url)), silent: true });
    const loaded = { config: { server: { listen: '127.0.0.1:0', workers: 2, drain_timeout_ms: 10_000, limits: { handshake_timeout_ms: 10_000 } }, admin: undefined } } as unknown as LoadedConfig;
    const logs: string[] = [];
    let failedStart = false;
    const primary = await runPrimary(loaded, (m) => logs.push(m), () => void (failedStart = true));
    try {
      // Both report ready.
      await new Promise((r) => setTimeout(r, 1000));
      const first = cluster.workers![1]!;
      first.process.kill('SIGKILL'); // an OOM kill, a crash
      await new Promise((r) => setTimeout(r, 2000));
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead()).map((w) => w!.id);
      expect({ failedStart, alive, logs }).toMatchObject({ failedStart: false, alive: expect.arrayContaining([2]) });
    } finally {
      await Promise.race([primary.stop(), new Promise((r) => setTimeout(r, 3000))]);
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }
  }, 15_000);
});
