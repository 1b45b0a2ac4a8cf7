// The real CLI as a process: built from src/ into a directory of its own (two tsc runs into one
// directory at once could race), plus the bounded waits the process tests share.
import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { startIssuer, type TestIssuer } from './issuer.js';
import { testPki, writePki, type PkiFiles, type TestPki } from './pki.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** Compiles src/ into `<repo>/<dirName>` (git-ignored `dist-*`) and returns the path of its cli.js. */
export function buildCli(dirName: `dist-${string}`): string {
  const out = join(ROOT, dirName);
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
  return join(out, 'cli.js');
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

/** What the CLI-process tests start once: the CLI built into `dirName`, a PKI, an issuer and an upstream. */
export async function cliFixtures(dirName: `dist-${string}`): Promise<{ cliJs: string; pki: TestPki; files: PkiFiles; issuer: TestIssuer; upstream: TestUpstream }> {
  const cliJs = buildCli(dirName);
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  return { cliJs, pki, files, issuer: await startIssuer({ pki }), upstream: await startUpstream() };
}
