// server.limits.max_body_bytes for bodies without a Content-Length (chunked): counted as they stream
// to the upstream, since the gateway does not buffer them. A Content-Length over the limit is refused
// before anything else (gateway.ts).

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
