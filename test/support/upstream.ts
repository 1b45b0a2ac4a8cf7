// Plain-HTTP echo server standing in for the legacy API behind the gateway.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';

export type UpstreamBehaviour = 'ok' | `status:${number}` | 'hang' | 'reset' | 'reset-mid-body';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface UpstreamOpts {
  behaviour?: UpstreamBehaviour;
  delayMs?: number;
  /** custom responder; replaces `behaviour` (request is still recorded) */
  handler?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
}

export interface TestUpstream {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedRequest[];
  behaviour: UpstreamBehaviour;
  delayMs: number;
  handler: UpstreamOpts['handler'];
  close(): Promise<void>;
}

/**
 * A TestUpstream handle for a server the test runs itself (a raw TCP or misbehaving one), listening on
 * 127.0.0.1:port: the harness routes to it; the test closes the server.
 */
export function upstreamAt(port: number): TestUpstream {
  return { url: `http://127.0.0.1:${port}`, port, received: [], behaviour: 'ok', delayMs: 0, handler: undefined, close: async () => undefined };
}

/**
 * A TCP upstream answering with raw bytes (responses Node's own server would never write): `onRequest`
 * gets each connection when its first bytes arrive. Its close() ends every connection.
 */
export async function startRawUpstream(onRequest: (socket: Socket) => void): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('data', () => onRequest(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ...upstreamAt((server.address() as AddressInfo).port),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function startUpstream(opts: UpstreamOpts = {}): Promise<TestUpstream> {
  const received: ReceivedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const respond = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (up.handler) return up.handler(req, res, body);
    const b = up.behaviour;
    if (b === 'hang') return;
    if (b === 'reset') {
      req.socket.destroy();
      return;
    }
    const status = b.startsWith('status:') ? Number(b.slice(7)) : 200;
    const json = JSON.stringify({ ok: true, method: req.method, url: req.url });
    if (b === 'reset-mid-body') {
      // promise more bytes than we send, flush half, then kill the socket
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(json.length * 2) });
      res.write(json, () => req.socket.destroy());
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(json);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      if (up.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          respond(req, res, body);
        }, up.delayMs);
        timers.add(t);
      } else {
        respond(req, res, body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const up: TestUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    behaviour: opts.behaviour ?? 'ok',
    delayMs: opts.delayMs ?? 0,
    handler: opts.handler,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return up;
}

/**
 * An upstream that serves one request per connection and resets the connection under the next: a
 * pooled connection it closed without saying so. `served`: `METHOD url` of each request answered.
 */
export async function startOneShotUpstream(): Promise<{ url: string; served: string[]; close(): Promise<void> }> {
  const served: string[] = [];
  const seen = new WeakSet<object>();
  const server = createServer((req, res) => {
    if (seen.has(req.socket)) return void req.socket.resetAndDestroy();
    seen.add(req.socket);
    req.resume();
    req.on('end', () => {
      served.push(`${req.method} ${req.url}`);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
