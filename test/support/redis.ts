// A private redis-server per test file (so a test can stop and restart it without touching the shared
// one at 127.0.0.1:6379), and the shared instance's URL with a unique key prefix per run.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export const SHARED_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const uniquePrefix = (what: string): string => `fapi-test:${what}:${process.pid}:${Date.now()}:`;

/** `fapi-test:…:<pid>:<ms>:` (uniquePrefix and the replay store's unit test): the pid that owns the keys. */
const TEST_KEY_OWNER = /^fapi-test:(?:.*:)?(\d+):\d{13}:/;

/**
 * Keys without a TTL (the replay stores' `<prefix>epoch`) that test processes no longer alive left in the
 * shared Redis, which outlives every run. Keys of live processes (a concurrent run) are kept. Best effort:
 * a Redis that is not there removes nothing.
 */
export async function removeStaleTestKeys(url: string, alive: (pid: number) => boolean): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, enableOfflineQueue: false, retryStrategy: () => null });
  r.on('error', () => undefined);
  let removed = 0;
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', 'fapi-test:*', 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const pid = TEST_KEY_OWNER.exec(key)?.[1];
        if (pid === undefined || alive(Number(pid)) || (await r.ttl(key)) !== -1) continue;
        removed += await r.del(key);
      }
    } while (cursor !== '0');
  } catch {
    // Not reachable: nothing to clean.
  } finally {
    r.disconnect();
  }
  return removed;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Polls `f` until it returns true or `ms` elapse. */
export async function until(f: () => Promise<boolean>, ms = 5000, stepMs = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return true;
    await sleep(stepMs);
  }
  return false;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * redis-server on 127.0.0.1:port, nothing persisted unless `extra` says so. Its own directory (a replica,
 * REPLICAOF in failover tests, writes the primary's RDB there); pass the same `dir` to restart it.
 */
export async function startRedis(port: number, extra: readonly string[] = [], dir = mkdtempSync(join(tmpdir(), 'fapi-redis-'))): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  if (!(await until(async () => out.includes('Ready to accept connections'), 5000, 20))) {
    child.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} did not start: ${out}`);
  }
  return child;
}

export async function stopRedis(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

export const runningRedis = (): readonly ChildProcess[] => [...children];

/** A short-lived admin connection: to a private redis-server's port, or to a URL (the shared instance). */
export async function withRedis<T>(target: number | string, f: (r: Redis) => Promise<T>): Promise<T> {
  const opts = { lazyConnect: true, maxRetriesPerRequest: 0 };
  const r = typeof target === 'number' ? new Redis({ port: target, host: '127.0.0.1', ...opts }) : new Redis(target, opts);
  await r.connect();
  try {
    return await f(r);
  } finally {
    r.disconnect();
  }
}
