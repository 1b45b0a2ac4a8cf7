// The legacy API: a plain-HTTP keep-alive echo that answers every request with a small JSON body.
import { createServer } from 'node:http';
import { serve } from './common.mjs';

const body = Buffer.from(JSON.stringify({ ok: true, accounts: [{ id: '123', currency: 'EUR', balance: '100.00' }] }));
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.headersTimeout = 60_000;
server.requestTimeout = 0;
server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  serve({
    port: server.address().port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
});
