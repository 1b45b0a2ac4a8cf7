// The batched log destination: every line written once, in order; batch, timer and exit flushes.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogSink } from '../../../src/observe/log-sink.js';

const open: Array<{ fd: number; sink: LogSink }> = [];
function sinkToFile(opts: ConstructorParameters<typeof LogSink>[1] = {}): { sink: LogSink; read: () => string } {
  const file = join(mkdtempSync(join(tmpdir(), 'log-sink-')), 'out.log');
  const fd = openSync(file, 'w');
  const sink = new LogSink(fd, opts);
  open.push({ fd, sink });
  return { sink, read: () => readFileSync(file, 'utf8') };
}
const flushed = (sink: LogSink): Promise<void> => new Promise((ok) => sink.flush(() => ok()));
const line = (i: number): string => `{"n":${i},"msg":"é ${'x'.repeat(i % 50)}"}\n`;

afterEach(() => {
  for (const { fd, sink } of open.splice(0)) {
    sink.close();
    closeSync(fd);
  }
});

describe('LogSink (HDR-2 request log destination)', () => {
  it('holds lines below a batch until flushed, then writes them in order', async () => {
    const { sink, read } = sinkToFile({ batchChars: 1 << 20, flushMs: 60_000 });
    sink.write(line(1));
    sink.write(line(2));
    await new Promise((r) => setTimeout(r, 30));
    expect(read()).toBe('');
    await flushed(sink);
    expect(read()).toBe(line(1) + line(2));
  });

  it('writes a full batch as soon as it is full, whole lines only', () => {
    const { sink, read } = sinkToFile({ batchChars: 100, flushMs: 60_000 });
    const lines = [line(40), line(41), line(42)];
    sink.write(lines[0]!);
    expect(read()).toBe('');
    sink.write(lines[1]!);
    expect(read()).toBe(lines[0]! + lines[1]!);
    sink.write(lines[2]!);
    expect(read()).toBe(lines[0]! + lines[1]!);
  });

  it('writes the remainder on its timer', async () => {
    const { sink, read } = sinkToFile({ batchChars: 1 << 20, flushMs: 20 });
    sink.write(line(7));
    const until = Date.now() + 2000;
    while (read() === '' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(read()).toBe(line(7));
  });

  it('flushSync (at exit) writes what is queued before returning', () => {
    const { sink, read } = sinkToFile({ batchChars: 1 << 20, flushMs: 60_000 });
    sink.write(line(3));
    sink.flushSync();
    expect(read()).toBe(line(3));
  });

  it('10 000 lines through small batches: each exactly once, in order', async () => {
    const { sink, read } = sinkToFile({ batchChars: 1024, flushMs: 60_000 });
    const expected: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const l = line(i);
      expected.push(l);
      sink.write(l);
      if (i % 700 === 0) await new Promise((r) => setImmediate(r));
    }
    await flushed(sink);
    expect(read()).toBe(expected.join(''));
  });
});

describe('LogSink on a non-blocking pipe whose reader stalls (found in review: it dropped batches after 1 s)', () => {
  it('loses no line when the reader comes back after 1.5 s', async () => {
    // A child that reads nothing for 1.5 s, then counts the bytes; its stdin is a non-blocking pipe here.
    const child = spawn('sh', ['-c', 'sleep 1.5; wc -c'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const sink = new LogSink(fd, { flushMs: 60_000 });
    const line = `${'x'.repeat(199)}\n`;
    for (let i = 0; i < 5000; i++) sink.write(line); // 1,000,000 bytes, far more than a pipe holds
    sink.close();
    child.stdin.end();
    await new Promise((r) => child.once('close', r));
    expect(Number(out.trim())).toBe(5000 * line.length);
  }, 20_000);
});
