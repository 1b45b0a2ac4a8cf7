// server.limits.max_body_bytes for bodies without a Content-Length (chunked): counted as they stream
// to the upstream, since the gateway does not buffer them (but for signed requests: readBody). A
// Content-Length over the limit is refused before anything else (gateway.ts).

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

/**
 * Reads a whole request body of at most `max` bytes (a signed request: its digest is checked before it
 * is forwarded, SIG-6). `too-large`: more arrived, and reading stopped; `closed`: the client went away first.
 */
export function readBody(req: NodeJS.ReadableStream, max: number): Promise<Buffer | 'too-large' | 'closed'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    const done = (v: Buffer | 'too-large' | 'closed'): void => {
      req.off('data', data);
      req.off('end', end);
      req.off('close', closed);
      req.off('error', closed);
      resolve(v);
    };
    const data = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > max) return done('too-large');
      chunks.push(chunk);
    };
    const end = (): void => done(Buffer.concat(chunks, seen));
    const closed = (): void => done('closed');
    req.on('data', data);
    req.on('end', end);
    req.on('close', closed);
    req.on('error', closed);
  });
}
