// The JavaScript peer a team would otherwise write: Express 5 + express-oauth2-jwt-bearer (DPoP required;
// the published 1.10 validates the proof's signature, typ, alg, iat window, htm, htu, ath and cnf.jkt) +
// http-proxy-middleware with a keep-alive agent, TLS-terminating with the gateway's certificate.
// The library keeps no jti replay cache, so a ten-line in-memory one is added (BENCH_PEER_REPLAY=0 drops it),
// to compare like with like: the gateway claims every jti too.
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { createServer } from 'node:https';
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { fail, serve, tlsServerOptions } from './common.mjs';

try {
  const cfg = JSON.parse(process.env.BENCH_SERVER_CONFIG);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(
    auth({
      issuer: cfg.issuer,
      jwksUri: cfg.jwksUri,
      audience: cfg.audience,
      tokenSigningAlg: 'ES256',
      dpop: { enabled: true, required: true, iatOffset: 300, iatLeeway: 10 },
    }),
  );
  if (process.env.BENCH_PEER_REPLAY !== '0') {
    // jti replay check: key = sha256(jkt:jti) like the gateway; entries expire after the iat window.
    const seen = new Map();
    const ttlMs = 320_000;
    app.use((req, res, next) => {
      const now = Date.now();
      for (const [k, exp] of seen) {
        if (exp > now) break;
        seen.delete(k);
      }
      const proof = String(req.headers.dpop ?? '');
      const payload = JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8'));
      const key = createHash('sha256').update(`${req.auth?.payload?.cnf?.jkt}:${payload.jti}`).digest('hex');
      if (seen.has(key)) {
        res.status(401).set('www-authenticate', 'DPoP error="invalid_dpop_proof"').json({ error: 'invalid_dpop_proof' });
        return;
      }
      seen.set(key, now + ttlMs);
      next();
    });
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' });
  app.use(
    createProxyMiddleware({
      target: cfg.upstream,
      changeOrigin: true,
      agent,
      on: {
        proxyReq: (proxyReq, req) => {
          // Identity headers, as the gateway sets them.
          const p = req.auth.payload;
          proxyReq.removeHeader('authorization');
          proxyReq.removeHeader('dpop');
          proxyReq.setHeader('x-authenticated-subject', String(p.sub));
          proxyReq.setHeader('x-authenticated-client-id', String(p.client_id));
          proxyReq.setHeader('x-authenticated-scope', String(p.scope ?? ''));
          proxyReq.setHeader('x-authenticated-binding', 'dpop');
          proxyReq.setHeader('x-authenticated-key-thumbprint', String(p.cnf?.jkt));
        },
      },
    }),
  );
  // express-oauth2-jwt-bearer errors carry status and WWW-Authenticate.
  app.use((err, req, res, _next) => {
    res.status(err.status ?? 500);
    if (err.headers) res.set(err.headers);
    res.json({ error: err.code ?? 'server_error', error_description: err.message });
  });
  const server = createServer(
    tlsServerOptions(cfg),
    app,
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
} catch (e) {
  fail(e);
}
