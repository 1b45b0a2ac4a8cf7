// The log destination behind pino: lines are queued and written to a file descriptor in batches of
// about 8 KiB, and at least once a second. One write per line was a tenth of the gateway's CPU; an
// asynchronous write hands every batch to a pool thread, which on a busy core cost more than the write.
// pino.destination (sonic-boom) also re-measured its growing buffer on every line.
import { writeSync } from 'node:fs';

export interface LogSinkOptions {
  /** Write once this many characters are queued (default 8 KiB). */
  readonly batchChars?: number;
  /** Write at least this often while anything is queued (default 1000 ms). */
  readonly flushMs?: number;
}

export class LogSink {
  private queue: string[] = [];
  private queued = 0;
  private readonly batchChars: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly fd: number,
    opts: LogSinkOptions = {},
  ) {
    this.batchChars = opts.batchChars ?? 8 * 1024;
    this.timer = setInterval(() => this.flushSync(), opts.flushMs ?? 1000).unref();
  }

  /** pino's DestinationStream. */
  write(line: string): boolean {
    this.queue.push(line);
    this.queued += line.length;
    if (this.queued >= this.batchChars) this.flushSync();
    return true;
  }

  /** Called by pino's logger.flush(cb). */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  /** Writes everything queued, in order, before returning (also at exit). */
  flushSync(): void {
    if (this.queued === 0) return;
    const text = this.queue.length === 1 ? this.queue[0]! : this.queue.join('');
    this.queue = [];
    this.queued = 0;
    writeAll(this.fd, text);
  }

  close(): void {
    clearInterval(this.timer);
    this.flushSync();
  }
}

/**
 * A full non-blocking pipe (stdout shared with a cluster primary is one) is retried until it drains,
 * waiting a little longer each time (up to 50 ms): a stalled log reader slows the gateway down, it does
 * not lose lines. A closed or invalid descriptor drops the batch (nowhere left to say so).
 */
function writeAll(fd: number, text: string): void {
  let written: number;
  try {
    written = writeSync(fd, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    written = 0;
  }
  if (written === Buffer.byteLength(text)) return;
  let buf = Buffer.from(text, 'utf8').subarray(written);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waitMs = 1; buf.length > 0; ) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
      waitMs = 1;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(pause, 0, 0, waitMs);
      waitMs = Math.min(waitMs * 2, 50);
    }
  }
}
