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
 * A body gathered whole, of at most `max` bytes, copied into one buffer that grows by doubling: a list
 * of the chunks as they came would cost ~200 bytes of heap per chunk, so a body sent one byte at a time
 * would hold ~200 times its size.
 */
export class BodyBuffer {
  private bytes: Buffer;
  private size = 0;

  /** `expected`: the declared length, when known (allocated at once, never above `max`). */
  constructor(
    readonly max: number,
    expected?: number,
  ) {
    this.bytes = Buffer.allocUnsafe(Math.min(max, expected ?? 16_384));
  }

  /** False once more than `max` bytes were offered (nothing more is kept). */
  add(chunk: Buffer): boolean {
    const size = this.size + chunk.length;
    if (size > this.max) return false;
    if (size > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.max, Math.max(size, this.bytes.length * 2)));
      this.bytes.copy(grown, 0, 0, this.size);
      this.bytes = grown;
    }
    chunk.copy(this.bytes, this.size);
    this.size = size;
    return true;
  }

  /** The bytes gathered (a view, not a copy). */
  body(): Buffer {
    return this.bytes.subarray(0, this.size);
  }
}

/**
 * Reads a whole request body of at most `max` bytes (a signed request: its digest is checked before it
 * is forwarded, SIG-6). `too-large`: more arrived, and reading stopped; `closed`: the client went away first.
 */
export function readBody(req: NodeJS.ReadableStream, max: number, expected?: number): Promise<Buffer | 'too-large' | 'closed'> {
  return new Promise((resolve) => {
    const buffer = new BodyBuffer(max, expected);
    const done = (v: Buffer | 'too-large' | 'closed'): void => {
      req.off('data', data);
      req.off('end', end);
      req.off('close', closed);
      req.off('error', closed);
      resolve(v);
    };
    const data = (chunk: Buffer): void => {
      if (!buffer.add(chunk)) done('too-large');
    };
    const end = (): void => done(buffer.body());
    const closed = (): void => done('closed');
    req.on('data', data);
    req.on('end', end);
    req.on('close', closed);
    req.on('error', closed);
  });
}
