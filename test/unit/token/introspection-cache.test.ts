import { describe, expect, it } from 'vitest';
import { IntrospectionCache } from '../../../src/token/introspection-cache.js';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
};

describe('INT-6: IntrospectionCache', () => {
  it('INT-6 serves a stored value until its deadline, then loads again', async () => {
    let now = 0;
    const cache = new IntrospectionCache<string>(10, () => now);
    let loads = 0;
    const load = async () => ({ value: `v${++loads}`, ttlMs: 1000 });
    expect(await cache.getOrLoad('k', load)).toBe('v1');
    now = 999;
    expect(await cache.getOrLoad('k', load)).toBe('v1');
    now = 1000;
    expect(await cache.getOrLoad('k', load)).toBe('v2');
  });
  it('INT-6 a ttl of 0 or less is not stored', async () => {
    const cache = new IntrospectionCache<number>(10, () => 0);
    let loads = 0;
    for (const ttlMs of [0, -5]) await cache.getOrLoad('k', async () => ({ value: ++loads, ttlMs }));
    expect(loads).toBe(2);
    expect(cache.size).toBe(0);
  });
  it('INT-6 a failed load is shared by its waiters and never stored', async () => {
    const cache = new IntrospectionCache<string>(10, () => 0);
    const d = deferred<{ value: string; ttlMs: number }>();
    let loads = 0;
    const load = () => {
      loads++;
      return d.promise;
    };
    const a = cache.getOrLoad('k', load);
    const b = cache.getOrLoad('k', load);
    d.reject(new Error('AS down'));
    await expect(a).rejects.toThrow('AS down');
    await expect(b).rejects.toThrow('AS down');
    expect(loads).toBe(1);
    expect(await cache.getOrLoad('k', async () => ({ value: 'ok', ttlMs: 10 }))).toBe('ok');
  });
  it('INT-6 single flight: 50 concurrent requests for one key run one load', async () => {
    const cache = new IntrospectionCache<string>(10, () => 0);
    const d = deferred<{ value: string; ttlMs: number }>();
    let loads = 0;
    const all = Array.from({ length: 50 }, () =>
      cache.getOrLoad('k', () => {
        loads++;
        return d.promise;
      }),
    );
    d.resolve({ value: 'v', ttlMs: 1000 });
    expect(await Promise.all(all)).toEqual(Array(50).fill('v'));
    expect(loads).toBe(1);
  });
  it('INT-6 bounded: expired entries go first, then the oldest', async () => {
    let now = 0;
    const cache = new IntrospectionCache<string>(3, () => now);
    await cache.getOrLoad('short', async () => ({ value: 's', ttlMs: 10 }));
    await cache.getOrLoad('a', async () => ({ value: 'a', ttlMs: 1000 }));
    await cache.getOrLoad('b', async () => ({ value: 'b', ttlMs: 1000 }));
    now = 20;
    await cache.getOrLoad('c', async () => ({ value: 'c', ttlMs: 1000 }));
    expect(cache.size).toBe(3);
    // "a" survived the expired "short"; now the oldest ("a") makes room for "d".
    let reloaded = false;
    await cache.getOrLoad('a', async () => ((reloaded = true), { value: 'a2', ttlMs: 1000 }));
    expect(reloaded).toBe(false);
    await cache.getOrLoad('d', async () => ({ value: 'd', ttlMs: 1000 }));
    expect(cache.size).toBeLessThanOrEqual(3);
    expect(await cache.getOrLoad('a', async () => ({ value: 'a3', ttlMs: 1000 }))).toBe('a3');
    expect(await cache.getOrLoad('d', async () => ({ value: 'd2', ttlMs: 1000 }))).toBe('d');
  });
  it('INT-6 never grows past its bound', async () => {
    const cache = new IntrospectionCache<number>(100, () => 0);
    for (let i = 0; i < 1000; i++) await cache.getOrLoad(`k${i}`, async () => ({ value: i, ttlMs: 60_000 }));
    expect(cache.size).toBeLessThanOrEqual(100);
  });
});
