// Found in review (fixed; the test failed before): a review of the change 6520e4f: the golang-go install step added to .ci/run.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

// .ci/run's contract (its header): "runs on a clean clone ... runs the README's test command and prints
// 'N passed, M failed'"; 6520e4f: "Without Go the file [chart-render] ... fails under CI". The bug was (low): the
// install step (.ci/run:33-38) runs under `set -euo pipefail` and calls `sudo` whenever the user is not
// root, without checking that sudo (or apt-get) exists. On a non-root runner without sudo (or a non-Debian
// image, or no network) the whole script exits 127 before a single test runs, instead of the one
// Helm file failing; and `DEBIAN_FRONTEND=... sudo apt-get` hands the variable to sudo, whose env_reset drops it.
// The block is run as written, except that its two fixed paths of this machine's Go are pointed
// elsewhere (this machine has Go), with `id` saying uid 1000 and no go, sudo or apt-get on PATH.
it('.ci/run: no Go, not root, no sudo -> the test run still happens', () => {
  const script = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  const start = script.indexOf('# The Helm chart is rendered');
  const end = script.indexOf('\nfi\n', start) + 4;
  expect(start).toBeGreaterThan(0);
  const block = script.slice(start, end).replaceAll('/usr/lib/go/bin/go', '/nonexistent/go').replaceAll('/usr/lib/go-1.19/bin/go', '/nonexistent/go-1.19').replaceAll('/usr/local/go/bin/go', '/nonexistent/local-go');
  const bin = mkdtempSync(join(tmpdir(), 'fapi-ci-go-'));
  writeFileSync(join(bin, 'id'), '#!/bin/sh\necho 1000\n');
  chmodSync(join(bin, 'id'), 0o755);
  const r = spawnSync('/bin/bash', ['-c', `set -euo pipefail\n${block}\necho REACHED_TESTS`], { env: { PATH: bin }, encoding: 'utf8', timeout: 10_000 });
  expect({ status: r.status, out: r.stdout.includes('REACHED_TESTS') }).toEqual({ status: 0, out: true });
});
