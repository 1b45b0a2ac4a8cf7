// The floor cost of forwarding: TLS termination (same certificate, ciphers and client-certificate request
// as the gateway) and http-proxy-3 with a keep-alive agent. No checks, no logging, no metrics.
import { Agent, request } from 'node:http';
import { createServer } from 'node:https';
import { ProxyServer } from 'http-proxy-3';
import { serve, tlsServerOptions } from './common.mjs';

const cfg = JSON.parse(process.env.BENCH_SERVER_CONFIG);
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
const proxy = new ProxyServer({ xfwd: false, prependPath: true });
const target = new URL(cfg.upstream);
// Experiment knobs (BENCH_BARE_IMPL), to size what the proxy library costs: `raw` forwards with
// node:http request + pipe instead of http-proxy-3; `lean` uses http-proxy-3 the way the gateway does
// (toProxy, no prependPath, the response head written in one writeHead from rawHeaders).
const raw = process.env.BENCH_BARE_IMPL === 'raw';
const lean = process.env.BENCH_BARE_IMPL === 'lean';
const leanOptions = { target, agent, changeOrigin: true, toProxy: true, prependPath: false, selfHandleResponse: true };
if (lean) {
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    const head = [];
    for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) {
      const name = proxyRes.rawHeaders[i].toLowerCase();
      if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding') head.push(name, proxyRes.rawHeaders[i + 1]);
    }
    res.writeHead(proxyRes.statusCode, proxyRes.statusMessage, head);
    proxyRes.pipe(res);
  });
}
const rawForward = (req, res) => {
  const headers = { ...req.headers, host: target.host };
  delete headers.connection;
  const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  req.pipe(up);
};
const server = createServer(
  tlsServerOptions(cfg),
  (req, res) => {
    if (raw) return rawForward(req, res);
    proxy.web(req, res, lean ? leanOptions : { target, agent, changeOrigin: true }, () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  },
);
server.listen(0, '127.0.0.1', () => {
  serve({
    port: server.address().port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => r());
      }),
  });
});
