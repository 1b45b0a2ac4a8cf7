// Figures for docs/hardening.md: each hardening/property test file (and the soak) writes what it measured
// to docs/.hardening/<group>.json; scripts/hardening-report.js reads them all. Plain ESM JS, no dependencies.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const FIGURES_DIR = resolve(import.meta.dirname, '../../docs/.hardening');

/**
 * One JSON file per group. `list(name, item)` appends to an array, `set(name, value)` sets a value; the
 * file is rewritten after every call (tests in one file run in one process, so there is no race).
 * Written only when HARDENING_FIGURES=1 (set by scripts/hardening-report.js) or `{ always: true }`, so a
 * plain `npm test` leaves the working tree alone.
 */
export function figures(group, opts = {}) {
  const data = { group, updated: '', lists: {}, values: {} };
  const enabled = opts.always === true || process.env.HARDENING_FIGURES === '1';
  const flush = () => {
    if (!enabled) return;
    data.updated = new Date().toISOString();
    mkdirSync(FIGURES_DIR, { recursive: true });
    const file = join(FIGURES_DIR, `${group}.json`);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(data, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  };
  return {
    list(name, item) {
      (data.lists[name] ??= []).push(item);
      flush();
    },
    set(name, value) {
      data.values[name] = value;
      flush();
    },
  };
}

/** Every group written so far, keyed by group name. */
export function readFigures(dir = FIGURES_DIR) {
  const out = {};
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const d = JSON.parse(readFileSync(join(dir, n), 'utf8'));
      // Only figure groups (vitest's own JSON report lives in the same directory).
      if (typeof d?.group === 'string' && typeof d.lists === 'object') out[d.group] = d;
    } catch {
      // a half-written file from an interrupted run: ignored
    }
  }
  return out;
}
