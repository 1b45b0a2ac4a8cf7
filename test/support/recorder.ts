// A raw TCP upstream on 127.0.0.1:0 that records the exact bytes of every connection and answers each
// request it frames itself (a strict RFC 9112 framer: Content-Length or chunked, case-insensitive),
// with a reply the test chooses. What a legacy upstream would then make of the bytes is judged by the
// test from `bytes`.
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface Conn {
  readonly socket: Socket;
  bytes: Buffer;
  /** Requests framed so far on this connection: their heads and bodies, in order. */
  readonly requests: { head: string; body: Buffer }[];
}

export type Reply = (req: { head: string; body: Buffer; conn: Conn }) => string | Buffer | undefined;

export interface Recorder {
  readonly port: number;
  readonly url: string;
  readonly conns: Conn[];
  reply: Reply;
  /** Every byte received on every connection, in connection order. */
  all(): string;
  close(): Promise<void>;
}

const OK = (): string => 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

/** One request from the front of `buf` (strict framing), or undefined while incomplete. */
function frame(buf: Buffer): { head: string; body: Buffer; used: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  let pos = end + 4;
  const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = buf.indexOf('\r\n', pos);
      if (nl === -1) return undefined;
      const size = parseInt(buf.subarray(pos, nl).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk');
      if (size === 0) {
        const t = buf.indexOf('\r\n\r\n', nl);
        if (t === -1 && buf.subarray(nl, nl + 4).toString() !== '\r\n\r\n') return undefined;
        const trailerEnd = buf.subarray(nl, nl + 4).toString() === '\r\n\r\n' ? nl + 4 : t + 4;
        return { head, body: Buffer.concat(parts), used: trailerEnd };
      }
      if (buf.length < nl + 2 + size + 2) return undefined;
      parts.push(buf.subarray(nl + 2, nl + 2 + size));
      pos = nl + 2 + size + 2;
    }
  }
  const n = cl === null ? 0 : Number(cl[1]);
  if (buf.length < pos + n) return undefined;
  return { head, body: buf.subarray(pos, pos + n), used: pos + n };
}

export async function startRecorder(reply: Reply = OK): Promise<Recorder> {
  const conns: Conn[] = [];
  const server = createServer((socket) => {
    const conn: Conn = { socket, bytes: Buffer.alloc(0), requests: [] };
    conns.push(conn);
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      conn.bytes = Buffer.concat([conn.bytes, d]);
      pending = Buffer.concat([pending, d]);
      for (;;) {
        let r;
        try {
          r = frame(pending);
        } catch {
          socket.destroy();
          return;
        }
        if (r === undefined) return;
        pending = pending.subarray(r.used);
        const req = { head: r.head, body: Buffer.from(r.body) };
        conn.requests.push(req);
        const out = rec.reply({ ...req, conn });
        if (out !== undefined && !socket.destroyed) socket.write(out);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const rec: Recorder = {
    port,
    url: `http://127.0.0.1:${port}`,
    conns,
    reply,
    all: () => conns.map((c) => c.bytes.toString('latin1')).join(''),
    async close() {
      for (const c of conns) c.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return rec;
}

export { OK };
