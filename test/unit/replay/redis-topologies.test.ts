// DPOP-21 on the other Redis topologies the config offers: Sentinel and Cluster, each with real
// redis-server processes on free loopback ports (started and stopped by this file).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisReplayStore } from '../../../src/replay/redis.js';
import { freePort, startRedis, stopRedis, uniquePrefix, until } from '../../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'fapi-redis-topo-'));
const extra: ChildProcess[] = [];
const stores: RedisReplayStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const c of extra) await stopRedis(c);
  rmSync(dir, { recursive: true, force: true });
});

async function claimsOnce(store: RedisReplayStore): Promise<void> {
  expect(await until(() => store.ping(), 10_000, 100)).toBe(true);
  const key = `${uniquePrefix('topology')}k`;
  expect(await store.claim(key, 5000)).toBe(true);
  expect(await store.claim(key, 5000)).toBe(false);
  const concurrent = `${key}-c`;
  const results = await Promise.all(Array.from({ length: 20 }, () => store.claim(concurrent, 5000)));
  expect(results.filter(Boolean)).toHaveLength(1);
}

describe('RedisReplayStore topologies', () => {
  it('DPOP-21 Sentinel: the store finds the master through a sentinel and claims once', async () => {
    const masterPort = await freePort();
    extra.push(await startRedis(masterPort));
    const sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\nsentinel monitor fapi 127.0.0.1 ${masterPort} 1\n`);
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    extra.push(sentinel);
    const store = new RedisReplayStore({ mode: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sentinelPort }], sentinelName: 'fapi' });
    stores.push(store);
    await claimsOnce(store);
  }, 30_000);

  it('DPOP-21 Cluster: keys spread over three masters, each claimed once', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    // Each node ready before the cluster is created: a fixed pause lost that race on a loaded machine.
    const ready: Promise<boolean>[] = [];
    for (const p of ports) {
      const node = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${p}.conf`)], { stdio: ['ignore', 'pipe', 'ignore'] });
      extra.push(node);
      let out = '';
      node.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      ready.push(until(async () => out.includes('Ready to accept connections'), 10_000, 20));
    }
    expect(await Promise.all(ready)).toEqual([true, true, true]);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8', timeout: 20_000 });
    expect(create.status, create.stdout + create.stderr).toBe(0);
    const store = new RedisReplayStore({ mode: 'cluster', nodes: ports.map((port) => ({ host: '127.0.0.1', port })) });
    stores.push(store);
    await claimsOnce(store);
    // Many keys land on different slots, so every master takes claims.
    const prefix = uniquePrefix('slots');
    const firsts = await Promise.all(Array.from({ length: 30 }, (_, i) => store.claim(`${prefix}${i}`, 5000)));
    expect(firsts.every(Boolean)).toBe(true);
  }, 60_000);
});
