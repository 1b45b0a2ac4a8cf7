// The CLI compiled once per vitest run: global-setup.ts (main process) runs tsc into one directory and
// writes RESULT_FILE there when tsc is done; buildCli (cli.ts, in the test workers) waits for that file.
// Kept free of the other helpers so the main process loads nothing more than this.
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where global-setup.ts compiles the CLI; absent when that setup did not run (another config). */
    cliBuildDir?: string;
  }
}

/** Written (atomically, by rename) into the build directory once tsc has exited. */
export const RESULT_FILE = '.build-result.json';

export interface BuildResult {
  ok: boolean;
  /** What tsc printed (its diagnostics), or why it did not run to the end. */
  output: string;
}

/** `node tsc -p tsconfig.build.json --outDir <outDir>`: the arguments after the node binary. */
export const tscArgs = (outDir: string): string[] => [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir];

/**
 * The per-run build directories: `dist-run-<pid of the vitest main process>-<generation>` (git-ignored by
 * `dist-*`/). The pid keeps two vitest runs at once apart; the generation is a watch-mode rerun.
 */
export const RUN_DIR = /^dist-run-(\d+)-(\d+)$/;
export const runDirName = (pid: number, generation: number): string => `dist-run-${pid}-${generation}`;
