// vitest globalSetup: compiles the CLI once for the whole run instead of once per process-test file
// (about 4 s of tsc each). tsc runs in the background, so files that do not need the CLI start at once;
// buildCli waits for the result. A failed compile fails only the files that need the CLI, as before.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { RESULT_FILE, ROOT, RUN_DIR, runDirName, tscArgs, type BuildResult } from './cli-build.js';
import { removeStaleTestKeys, SHARED_REDIS_URL } from './redis.js';

interface Build {
  dir: string;
  /** Kills tsc if still running, then removes the directory. */
  remove(): Promise<void>;
}

export default function setup(project: TestProject): () => Promise<void> {
  removeStale();
  let generation = 0;
  let build = startBuild(join(ROOT, runDirName(process.pid, generation)));
  project.provide('cliBuildDir', build.dir);
  // Watch mode: src/ may have changed since the last run, and buildCli no longer compiles per file.
  project.onTestsRerun(async () => {
    await build.remove();
    build = startBuild(join(ROOT, runDirName(process.pid, ++generation)));
    project.provide('cliBuildDir', build.dir);
  });
  return async () => {
    await build.remove();
    // The test files' processes have ended: their epoch keys (no TTL) would stay in the shared Redis.
    await removeStaleTestKeys(SHARED_REDIS_URL, alive);
  };
}

function startBuild(dir: string): Build {
  rmSync(dir, { recursive: true, force: true });
  let output = '';
  let finished = false;
  const child = spawn(process.execPath, tscArgs(dir), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const done = new Promise<void>((ok) => {
    const finish = (result: BuildResult): void => {
      if (finished) return;
      finished = true;
      publish(dir, result);
      ok();
    };
    child.once('error', (e) => finish({ ok: false, output: `tsc could not be run: ${e.message}` }));
    child.once('close', (code, signal) => finish({ ok: code === 0, output: output || `tsc exited with ${code ?? signal}` }));
  });
  return {
    dir,
    remove: async () => {
      if (!finished) child.kill('SIGKILL');
      await done;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Written to a temporary name and renamed, so a worker never reads half a file. */
function publish(dir: string, result: BuildResult): void {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${RESULT_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(result));
  renameSync(tmp, join(dir, RESULT_FILE));
}

/** Build directories of runs that ended without their teardown (killed); a live run's are kept. */
function removeStale(): void {
  for (const name of readdirSync(ROOT)) {
    const pid = RUN_DIR.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid))) rmSync(join(ROOT, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
