// A scriptable authorization server: real HTTPS on 127.0.0.1:0 with the test PKI's server certificate;
// each test sets `handler` to misbehave as it likes (dependency-fault tests).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { testPki, type TestPki } from './pki.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface FakeAs {
  readonly origin: string;
  readonly port: number;
  /** requests per path (counted when the request body has arrived) */
  readonly hits: Map<string, number>;
  handler: Handler;
  count(path: string): number;
  /** serve another certificate from now on (new handshakes) */
  useCert(cert: string, key: string): void;
  close(): Promise<void>;
}

export const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
};

export async function startFakeAs(opts: { pki?: TestPki; handler?: Handler } = {}): Promise<FakeAs> {
  const pki = opts.pki ?? (await testPki());
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
      try {
        state.handler(req, res, Buffer.concat(chunks));
      } catch (e) {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      }
    });
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const state: FakeAs = {
    origin: `https://127.0.0.1:${port}`,
    port,
    hits: new Map(),
    handler: opts.handler ?? ((_q, res) => json(res, 404, { error: 'not_found' })),
    count: (p) => state.hits.get(p) ?? 0,
    useCert(cert, key) {
      server.setSecureContext({ cert, key });
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return state;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
