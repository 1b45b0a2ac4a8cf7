// The real CLI as a process (compiled once per vitest run by global-setup.ts, see cli-build.ts), plus
// the bounded waits the process tests share.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { startGateway } from '../../src/main.js';
import { RESULT_FILE, ROOT, tscArgs, type BuildResult } from './cli-build.js';
import { startIssuer, type TestIssuer } from './issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from './pki.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export { ROOT };

/**
 * The path of the compiled CLI's cli.js. Under this repo's vitest config that is the run's shared build
 * (waited for, not compiled again: the process tests only spawn it, none writes to it). Without
 * global-setup.ts it compiles src/ into `<repo>/<dirName>` (git-ignored `dist-*`), a directory per
 * caller so that two tsc runs never write into one directory at once.
 */
export function buildCli(dirName: `dist-${string}`): string {
  const shared = inject('cliBuildDir');
  if (shared !== undefined) {
    awaitSharedBuild(shared);
    return join(shared, 'cli.js');
  }
  const out = join(ROOT, dirName);
  execFileSync(process.execPath, tscArgs(out), { stdio: 'inherit' });
  return join(out, 'cli.js');
}

const SHARED_BUILD_WAIT_MS = 120_000;

/** Blocks until global-setup.ts's tsc is done (buildCli is synchronous); throws what tsc said if it failed. */
function awaitSharedBuild(dir: string): void {
  const until = Date.now() + SHARED_BUILD_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let text: string;
    try {
      text = readFileSync(join(dir, RESULT_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (Date.now() > until) throw new Error(`the CLI build in ${dir} did not finish in ${SHARED_BUILD_WAIT_MS} ms`);
      Atomics.wait(pause, 0, 0, 50);
      continue;
    }
    const result = JSON.parse(text) as BuildResult;
    if (!result.ok) throw new Error(`compiling the CLI (tsc -p tsconfig.build.json) failed:\n${result.output}`);
    return;
  }
}

/** Polls `f` every 50 ms until it holds; throws after `ms`. */
export async function eventually(f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

/** A plain-HTTP GET of the admin listener, bounded: a request never answered fails instead of hanging. */
export const adminGet = (url: string, ms = 8000): Promise<{ status: number; body: string; ms: number }> =>
  new Promise((ok, fail) => {
    const t0 = Date.now();
    const req = get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body, ms: Date.now() - t0 }));
    }).on('error', fail);
    req.setTimeout(ms, () => req.destroy(new Error(`no answer from ${url} in ${ms} ms`)));
  });

/** The JSON lines a process writes to `stream`, collected as they come (a partial line waits for its end). */
export function jsonLines(stream: NodeJS.ReadableStream): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.trim().startsWith('{')) lines.push(JSON.parse(p));
  });
  return lines;
}

/** Whether a line matching `pred` arrives within `ms`. */
export const lineArrives = (lines: readonly Record<string, any>[], pred: (l: Record<string, any>) => boolean, ms: number): Promise<boolean> =>
  eventually(async () => lines.some(pred), ms).then(
    () => true,
    () => false,
  );

/** What the CLI-process tests start once: the CLI (buildCli), a PKI, an issuer and an upstream. */
export async function cliFixtures(dirName: `dist-${string}`): Promise<{ cliJs: string; pki: TestPki; files: PkiFiles; issuer: TestIssuer; upstream: TestUpstream }> {
  const cliJs = buildCli(dirName);
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  return { cliJs, pki, files, issuer: await startIssuer({ pki }), upstream: await startUpstream() };
}

/**
 * The start's verdict on a config file (what `check` must agree with): undefined when the gateway started
 * (and was closed again), else its error message. `env` is set for the start only.
 */
export async function startVerdict(file: string, env: Record<string, string> = {}): Promise<string | undefined> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const g = await startGateway(loadConfigFile(file), { logDestination: new Writable({ write: (_c, _e, done) => done() }) });
    await g.close(100);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    process.env = saved;
  }
}
