// The micro-benchmarks are not run by `npm test`, but they must keep working: every task of every
// bench/micro/*.mjs runs once here, against the sources (vitest.config.ts maps their dist/ imports).
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../../bench/micro/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.mjs') && !f.startsWith('_')).sort();

interface MicroTask {
  readonly name: string;
  readonly fn: () => unknown;
  readonly batch?: number;
}

describe('bench/micro smoke', () => {
  it('finds the micro-benchmark files', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
  });
  it.each(files)('%s: every task runs once without throwing', async (file) => {
    const make = (await import(pathToFileURL(`${dir}${file}`).href)).default as () => Promise<MicroTask[]>;
    const tasks = await make();
    expect(tasks.length).toBeGreaterThan(0);
    for (const t of tasks) {
      expect(typeof t.name).toBe('string');
      await t.fn();
    }
  }, 60_000);
});
