// Runs one fast-check property, records how many cases it tried (docs/.hardening), and fails with
// fast-check's own report (seed, path, counterexample) when the property does not hold.
import fc from 'fast-check';

export async function checkProperty(fig, name, property, params = {}) {
  const t0 = performance.now();
  const details = await fc.check(property, params);
  const ms = Math.round(performance.now() - t0);
  fig.list('properties', {
    name,
    runs: details.numRuns,
    skips: details.numSkips,
    shrinks: details.numShrinks,
    failed: details.failed,
    seed: details.seed,
    ms,
  });
  if (details.failed) throw new Error(`${name}\n${fc.defaultReportMessage(details)}`);
  return details;
}
