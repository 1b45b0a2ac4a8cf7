// Message bodies. server.limits.max_body_bytes for bodies without a Content-Length (chunked): counted
// as they stream to the upstream, since the gateway does not buffer them; a Content-Length over the
// limit is refused before anything else (gateway.ts). Read whole into one buffer only where a digest
// needs every byte first: a signed request (readBody) or a signed response (BodyBuffer).

/**
 * Calls `exceeded` once when more than `max` body bytes have arrived. Attached after the body is piped
 * upstream: a 'data' listener on a paused request would start the flow before the pipe and lose chunks.
 */
export function limitStreamedBody(req: NodeJS.ReadableStream, max: number, exceeded: (seen: number) => void): void {
  let seen = 0;
  const count = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen <= max) return;
    req.off('data', count);
    exceeded(seen);
  };
  req.on('data', count);
}

/** The head declares a body: Content-Length above 0, or Transfer-Encoding (chunked, even if empty). */
export function declaresBody(req: { readonly headers: { 'content-length'?: string; 'transfer-encoding'?: string } }): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * What the whole-body buffers (signed requests and responses) may hold at once, together. Each is capped
 * by its max_body_bytes, but a thousand concurrent 10 MiB bodies would end the process: past this, a new
 * one is refused (503) instead. Shared by every config; a reload resizes it.
 */
export class BufferBudget {
  private used = 0;

  constructor(private limit: number) {}

  resize(limit: number): void {
    this.limit = limit;
  }

  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  /** Bytes held now, for tests and metrics. */
  get inUse(): number {
    return this.used;
  }
}

const EMPTY_BYTES = Buffer.alloc(0);

/**
 * A body gathered whole, of at most `max` bytes, copied into one buffer that grows by doubling: a list
 * of the chunks as they came would cost ~200 bytes of heap per chunk, so a body sent one byte at a time
 * would hold ~200 times its size. Its memory counts against `budget` until release().
 */
export class BodyBuffer {
  private bytes: Buffer;
  private size = 0;
  private held: number;

  /** `expected`: the declared length, when known (allocated at once, never above `max`). */
  private constructor(
    readonly max: number,
    first: number,
    private readonly budget: BufferBudget | undefined,
  ) {
    this.held = first;
    this.bytes = Buffer.allocUnsafe(first);
  }

  /** Undefined when the budget cannot hold even its first allocation. */
  static open(max: number, expected: number | undefined, budget?: BufferBudget): BodyBuffer | undefined {
    const first = Math.min(max, expected ?? 16_384);
    if (budget !== undefined && !budget.take(first)) return undefined;
    return new BodyBuffer(max, first, budget);
  }

  /** `too-large`: more than `max` bytes were offered; `no-budget`: the budget cannot hold them. Nothing more is kept either way. */
  add(chunk: Buffer): 'ok' | 'too-large' | 'no-budget' {
    const size = this.size + chunk.length;
    if (size > this.max) return 'too-large';
    if (size > this.bytes.length) {
      const capacity = Math.min(this.max, Math.max(size, this.bytes.length * 2));
      if (this.budget !== undefined && !this.budget.take(capacity - this.held)) return 'no-budget';
      this.held = capacity;
      const grown = Buffer.allocUnsafe(capacity);
      this.bytes.copy(grown, 0, 0, this.size);
      this.bytes = grown;
    }
    chunk.copy(this.bytes, this.size);
    this.size = size;
    return 'ok';
  }

  /** The bytes gathered (a view, not a copy). */
  body(): Buffer {
    return this.bytes.subarray(0, this.size);
  }

  /**
   * Gives its memory back to the budget and lets go of the bytes (the bytes must no longer be needed):
   * an idle keep-alive connection keeps its last request and response reachable, and with them this.
   */
  release(): void {
    this.budget?.give(this.held);
    this.held = 0;
    this.bytes = EMPTY_BYTES;
    this.size = 0;
  }
}

/**
 * Reads a whole request body of at most `max` bytes (a signed request: its digest is checked before it
 * is forwarded, SIG-6), held against `budget` until the caller releases it. `too-large`: more arrived,
 * and reading stopped; `no-budget`: the bodies held already fill the budget; `closed`: the client went away first.
 */
export function readBody(req: NodeJS.ReadableStream, max: number, expected: number | undefined, budget: BufferBudget): Promise<BodyBuffer | 'too-large' | 'no-budget' | 'closed'> {
  const buffer = BodyBuffer.open(max, expected, budget);
  if (buffer === undefined) return Promise.resolve('no-budget');
  return new Promise((resolve) => {
    const done = (v: BodyBuffer | 'too-large' | 'no-budget' | 'closed'): void => {
      req.off('data', data);
      req.off('end', end);
      req.off('close', closed);
      req.off('error', closed);
      if (v !== buffer) buffer.release();
      resolve(v);
    };
    const data = (chunk: Buffer): void => {
      const added = buffer.add(chunk);
      if (added !== 'ok') done(added);
    };
    const end = (): void => done(buffer);
    const closed = (): void => done('closed');
    req.on('data', data);
    req.on('end', end);
    req.on('close', closed);
    req.on('error', closed);
  });
}
