// Child processes for the benchmark: CPU pinning with taskset (when present), IPC, /proc CPU accounting.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** Whether `taskset` exists and this machine has at least two CPUs we may use. */
export function pinningAvailable() {
  const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  if (r.error !== undefined || r.status !== 0) return { ok: false, why: 'taskset not found or not permitted' };
  const cpus = allowedCpus(process.pid);
  if (cpus.length < 2) return { ok: false, why: `only ${cpus.length} CPU allowed` };
  return { ok: true, cpus };
}

/** CPUs a process may run on, from /proc/<pid>/status. */
export function allowedCpus(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
    const list = (line ?? '').split(':')[1]?.trim() ?? '';
    const out = [];
    for (const part of list.split(',')) {
      if (part === '') continue;
      const [a, b] = part.split('-').map(Number);
      for (let i = a; i <= (b ?? a); i++) out.push(i);
    }
    return out;
  } catch {
    return [];
  }
}

/** Pin this very process (the orchestrator) to `cpu`; returns false if it could not. */
export function pinSelf(cpu) {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/**
 * Start `node file args` (optionally under `taskset -c cpu`, which execs in place, so the pid and the
 * IPC channel are node's). stdout is discarded (the gateway logs one line per request there, as in
 * production, but to /dev/null); stderr is kept for crashes.
 */
export function startNode(file, { args = [], cpu, env = {}, nodeArgs = [], ipc = true, stderr = 'inherit' } = {}) {
  const argv = [...nodeArgs, file, ...args];
  const stdio = ['ignore', 'ignore', stderr, ...(ipc ? ['ipc'] : [])];
  const full = { ...process.env, ...env };
  const child =
    cpu === undefined
      ? spawn(process.execPath, argv, { stdio, env: full })
      : spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { stdio, env: full });
  // IPC write errors (a child that exited meanwhile) must not crash the orchestrator.
  child.on('error', () => undefined);
  return child;
}

/** Resolve with the first IPC message satisfying `pred`, or reject after `timeoutMs` / child exit. */
export function waitMessage(child, pred, timeoutMs, what = 'message') {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const onMsg = (m) => {
      if (pred(m)) done(undefined, m);
    };
    const onExit = (code, signal) => done(new Error(`child exited (${code ?? signal}) while waiting for ${what}`));
    function done(err, m) {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m);
    }
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

/** Stop a child we started: polite IPC/SIGTERM first, SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    if (child.connected) child.send({ type: 'stop' }, (err) => err && child.kill('SIGTERM'));
    else child.kill('SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** utime+stime of one process, in microseconds (from /proc/<pid>/stat, CLK_TCK resolution). */
export function cpuMicros(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised comm: state(3) ppid(4) ... utime(14) stime(15).
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1e6) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * Where a process's CPU went, in microseconds and counts (Linux /proc): the main thread's user and
 * system time, the other threads' CPU (V8's GC and compiler helpers, libuv's pool), minor page faults,
 * and voluntary / involuntary context switches summed over all threads.
 */
export function procDetail(pid) {
  const out = { userMicros: 0, sysMicros: 0, helperMicros: 0, minflt: 0, vcsw: 0, nvcsw: 0 };
  const fields = (text) => text.slice(text.lastIndexOf(')') + 2).split(' ');
  try {
    const f = fields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    out.minflt = Number(f[7]);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const t = fields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
        const u = (Number(t[11]) * 1e6) / CLK_TCK;
        const s = (Number(t[12]) * 1e6) / CLK_TCK;
        if (Number(tid) === pid) {
          out.userMicros += u;
          out.sysMicros += s;
        } else out.helperMicros += u + s;
        const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        out.vcsw += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(st)?.[1] ?? 0);
        out.nvcsw += Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(st)?.[1] ?? 0);
      } catch {
        // thread gone meanwhile
      }
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** Difference of two procDetail() readings. */
export function procDetailDelta(a, b) {
  const d = {};
  for (const k of Object.keys(a)) d[k] = b[k] - a[k];
  return d;
}

/** Direct children of `pid` (scans /proc; used for the gateway's cluster workers). */
export function childPids(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU µs of a process and (optionally) its direct children. */
export function treeCpuMicros(pid, withChildren) {
  let t = cpuMicros(pid);
  if (withChildren) for (const c of childPids(pid)) t += cpuMicros(c);
  return t;
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const CLOCK_TICKS_PER_S = CLK_TCK;

/** Busy time of each CPU (µs) from /proc/stat: everything but idle and iowait. Index = CPU number. */
export function cpuBusyMicros() {
  const out = [];
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (m === null) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      // user nice system idle iowait irq softirq steal ...
      const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
      out[Number(m[1])] = (busy * 1e6) / CLK_TCK;
    }
  } catch {
    // not Linux: no interference accounting
  }
  return out;
}

/**
 * Interference meter: CPU used on the machine by processes that are not part of the bench, between
 * two snapshots. `pids` are the bench's processes (their CPU is subtracted).
 */
export function snapshot(pids) {
  const busy = cpuBusyMicros();
  const own = pids.reduce((a, p) => a + cpuMicros(p), 0);
  return { busy, own, at: performance.now() };
}

export function foreignPct(a, b) {
  const wall = (b.at - a.at) * 1000;
  if (wall <= 0 || a.busy.length === 0) return 0;
  const busy = b.busy.reduce((x, v, i) => x + (v - (a.busy[i] ?? v)), 0);
  return Math.max(0, (100 * (busy - (b.own - a.own))) / wall);
}

/** Read/write syscall counts of a process (and its direct children), from /proc/<pid>/io. */
export function syscalls(pid, withChildren = false) {
  const one = (p) => {
    try {
      const t = readFileSync(`/proc/${p}/io`, 'utf8');
      return { r: Number(/syscr:\s*(\d+)/.exec(t)?.[1] ?? 0), w: Number(/syscw:\s*(\d+)/.exec(t)?.[1] ?? 0) };
    } catch {
      return { r: 0, w: 0 };
    }
  };
  const acc = one(pid);
  if (withChildren) for (const c of childPids(pid)) {
    const x = one(c);
    acc.r += x.r;
    acc.w += x.w;
  }
  return acc;
}
