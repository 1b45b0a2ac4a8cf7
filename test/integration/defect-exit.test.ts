// An exception or a rejection no code path handles (a defect) ends the process with one fatal JSON
// line, where the log pipeline looks, and exit status 70; with workers, the primary replaces the
// worker. The defect is injected by a preloaded module (--import) on SIGUSR2 inside the real CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cliFixtures, lineArrives, jsonLines } from '../support/cli.js';
import type { TestIssuer } from '../support/issuer.js';
import type { PkiFiles } from '../support/pki.js';
import { freePort, SHARED_REDIS_URL, uniquePrefix } from '../support/redis.js';
import type { TestUpstream } from '../support/upstream.js';

let cliJs: string;
let files: PkiFiles;
let issuer: TestIssuer;
let upstream: TestUpstream;
let inject: string;

beforeAll(async () => {
  ({ cliJs, files, issuer, upstream } = await cliFixtures('dist-test-defect-exit'));
  inject = join(files.dir, 'inject-defect.mjs');
  // The kind of defect comes from the environment: a throw in a callback, or a rejection nobody awaits.
  writeFileSync(
    inject,
    `process.on('SIGUSR2', () => setImmediate(() => {
      if (process.env.DEFECT === 'reject') Promise.reject(new TypeError('injected rejection'));
      else throw new RangeError('injected defect');
    }));\n`,
  );
}, 120_000);
afterAll(async () => {
  await issuer?.close();
  await upstream?.close();
});

async function start(name: string, defect: 'throw' | 'reject', workers?: number): Promise<{ child: ChildProcess; lines: Record<string, any>[]; exited: Promise<number | null> }> {
  const dir = join(files.dir, name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    stringify({
      server: { listen: `127.0.0.1:${await freePort()}`, public_origin: 'https://api.test', ...(workers && { workers }), tls: { cert_file: files.serverCertFile, key_file: files.serverKeyFile } },
      issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.caFile } },
      routes: [{ id: 'a', match: { methods: ['GET'], path_prefix: '/a' }, auth: { issuers: ['main'], audience: 'https://api.test', binding: 'mtls' }, upstream: { url: upstream.url } }],
      ...(workers && { replay: { store: 'redis', redis: { url_env: 'TEST_REDIS_URL', key_prefix: uniquePrefix('defect-exit') } } }),
    }),
  );
  const child = spawn(process.execPath, ['--import', inject, cliJs, '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEFECT: defect, TEST_REDIS_URL: SHARED_REDIS_URL },
  });
  const lines = jsonLines(child.stdout!);
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, lines, exited };
}

const listening = (lines: Record<string, any>[], n = 1): Promise<boolean> => lineArrives(lines, () => lines.filter((l) => l.msg === 'fapi-gateway listening').length >= n, 15_000);

describe('a defect ends the process with a fatal line', () => {
  it('an uncaught exception: one fatal JSON line naming it and where, exit 70', async () => {
    const { child, lines, exited } = await start('defect-throw', 'throw');
    try {
      expect(await listening(lines)).toBe(true);
      child.kill('SIGUSR2');
      expect(await exited).toBe(70);
      const fatal = lines.find((l) => l.msg === 'uncaught exception; exiting');
      expect(fatal).toMatchObject({ level: 'fatal', origin: 'uncaughtException', detail: 'RangeError: injected defect' });
      expect(fatal?.stack).toMatch(/inject-defect\.mjs/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an unhandled rejection: the same, with its origin', async () => {
    const { child, lines, exited } = await start('defect-reject', 'reject');
    try {
      expect(await listening(lines)).toBe(true);
      child.kill('SIGUSR2');
      expect(await exited).toBe(70);
      expect(lines.find((l) => l.msg === 'uncaught exception; exiting')).toMatchObject({ level: 'fatal', origin: 'unhandledRejection', detail: 'TypeError: injected rejection' });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('with workers: a worker\'s defect is its fatal line and exit 70, and the primary starts a new worker', async () => {
    const { child, lines } = await start('defect-worker', 'throw', 2);
    try {
      expect(await listening(lines, 2)).toBe(true);
      const victim = lines.find((l) => l.msg === 'fapi-gateway listening')?.pid as number;
      process.kill(victim, 'SIGUSR2');
      expect(await lineArrives(lines, (l) => l.msg === 'worker died; starting a new one' && l.code === 70, 10_000)).toBe(true);
      expect(lines.find((l) => l.msg === 'uncaught exception; exiting')).toMatchObject({ level: 'fatal', pid: victim, detail: 'RangeError: injected defect' });
      expect(await listening(lines, 3)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('with workers: the primary logs its own defect as fatal and exits 70', async () => {
    const { child, lines, exited } = await start('defect-primary', 'throw', 2);
    try {
      expect(await listening(lines, 2)).toBe(true);
      child.kill('SIGUSR2'); // the primary only (not the process group)
      expect(await exited).toBe(70);
      expect(lines.find((l) => l.msg === 'uncaught exception; exiting')).toMatchObject({ level: 'fatal', role: 'primary', detail: 'RangeError: injected defect' });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
