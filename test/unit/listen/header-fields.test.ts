// fieldValues must answer exactly what Node's headersDistinct does for a request its parser read
// (CRED-5 and DPOP-1 count fields with it).
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldValues } from '../../../src/listen/header-fields.js';

let server: ReturnType<typeof createServer>;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A real request, parsed by Node, with these raw header lines. */
async function parsed(lines: string[]): Promise<IncomingMessage> {
  const { port } = server.address() as AddressInfo;
  const before = seen.length;
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(`GET / HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    s.on('data', () => undefined).on('close', () => resolve()).on('error', reject);
  });
  expect(seen.length).toBe(before + 1);
  return seen.at(-1) as IncomingMessage;
}

describe('fieldValues', () => {
  const lines = ['Host: a.example', 'AUTHORIZATION: Bearer x', 'DPoP: p1', 'dpop:   p2  ', 'X-Empty:', 'authorization: DPoP y', 'Hostname: b'];
  it.each(['host', 'authorization', 'dpop', 'x-empty', 'x-fapi-interaction-id', 'hostname', 'connection'])('%s: the same as headersDistinct', async (name) => {
    const req = await parsed(lines);
    expect(fieldValues(req, name)).toEqual(req.headersDistinct[name]);
  });
  it('keeps repeated fields in order, whatever their case', async () => {
    const req = await parsed(lines);
    expect(fieldValues(req, 'dpop')).toEqual(['p1', 'p2']);
    expect(fieldValues(req, 'authorization')).toEqual(['Bearer x', 'DPoP y']);
  });
  it('folds only A-Z: `^` is not `~`, a backquote is not `@`, though they differ by 0x20 too', async () => {
    const req = await parsed(['Host: a.example', 'X^Y: caret', 'x~y: tilde', 'X-Fapi-Interaction-ID: id', 'Zz`: tick']);
    for (const name of ['x~y', 'x^y', 'x-fapi-interaction-id', 'zz`', 'zz@']) expect(fieldValues(req, name), name).toEqual(req.headersDistinct[name]);
    expect(fieldValues(req, 'x~y')).toEqual(['tilde']);
  });
});
