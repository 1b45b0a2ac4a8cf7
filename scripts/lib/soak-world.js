// A small loopback world for the soak and the child-process tests: a throw-away PKI, an issuer with a
// JWKS over HTTPS that mints RFC 9068 access tokens, a plain-HTTP upstream that counts its open
// connections, a gateway config file, and the gateway itself in a child process (soak-gateway-child.js).
// Everything listens on 127.0.0.1:0. Plain ESM JS (shared by scripts/soak.js and test/hardening).
import { fork } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { createCa, issueClientCert, issueServerCert } from './pki.js';

const HERE = import.meta.dirname;
export const PUBLIC_ORIGIN = 'https://api.test';
export const AUDIENCE = 'https://api.test';

const listen = async (server) => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
};

/** The issuer: ES256 key, JWKS at /jwks over HTTPS. */
async function startIssuer(pki) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `soak-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const state = { jwksFetches: 0 };
  const server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    if ((req.url ?? '').split('?')[0] === '/jwks') {
      state.jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  server.keepAliveTimeout = 1000;
  const port = await listen(server);
  const issuer = `https://127.0.0.1:${port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    state,
    mint(claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: AUDIENCE, sub: 'soak-user', client_id: 'soak-client', scope: 'accounts', iat: now, exp: now + 3600, jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .sign(privateKey);
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

/**
 * The upstream: answers 200 with a small JSON body after the request body ended; counts open
 * connections (`open`), requests that arrived complete (`complete`) and requests aborted mid-body
 * (`aborted`). `handler(req, res, body)` may replace the answer.
 */
async function startUpstream() {
  const sockets = new Set();
  const state = { complete: 0, aborted: 0, handler: undefined };
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('aborted', () => state.aborted++);
    req.on('end', () => {
      state.complete++;
      const body = Buffer.concat(chunks);
      if (state.handler) return state.handler(req, res, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, url: req.url, bytes: body.length }));
    });
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    state,
    get open() {
      return sockets.size;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

/**
 * PKI, issuer, upstream and a gateway config file. `routes` replace the default ones (an mTLS route
 * /accounts, a DPoP route /dpop; both GET and POST); `server` is merged into the config's `server`.
 */
export async function startWorld(opts = {}) {
  const ca = await createCa('fapi-gateway soak CA');
  const [server, client, client2] = await Promise.all([issueServerCert(ca, 'localhost'), issueClientCert(ca, 'soak-client'), issueClientCert(ca, 'soak-client-2')]);
  const pki = { ca, server, client, client2 };
  const dir = await mkdtemp(join(tmpdir(), 'fapi-soak-'));
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  await Promise.all([writeFile(files.ca, ca.certPem), writeFile(files.cert, server.certPem), writeFile(files.key, server.keyPem, { mode: 0o600 })]);
  const issuer = await startIssuer(pki);
  const upstream = await startUpstream();
  const routes = opts.routes ?? [
    { id: 'accounts', match: { methods: ['GET', 'POST'], path_prefix: '/accounts' }, auth: { binding: 'mtls' } },
    { id: 'dpop', match: { methods: ['GET', 'POST'], path_prefix: '/dpop' }, auth: { binding: 'dpop' } },
  ];
  const config = {
    server: {
      listen: '127.0.0.1:0',
      public_origin: PUBLIC_ORIGIN,
      tls: { cert_file: files.cert, key_file: files.key },
      ...opts.server,
    },
    admin: { listen: '127.0.0.1:0' },
    issuers: { main: { issuer: issuer.issuer, jwks_uri: issuer.jwksUri, ca_file: files.ca } },
    replay: { store: 'memory' },
    // A fresh store refuses proofs that could predate it for iat_future_s (DPOP-21); the child waits for
    // readiness, as a load balancer would: 2 s, not the default 10.
    dpop: { iat_future_s: 2 },
    routes: routes.map((r) => ({
      ...r,
      auth: { issuers: ['main'], audience: AUDIENCE, scopes: { all_of: ['accounts'] }, ...r.auth },
      upstream: { url: upstream.url, timeout_ms: 5000, ...r.upstream },
    })),
    logging: { level: 'info' },
  };
  const configPath = join(dir, 'gateway.yaml');
  await writeFile(configPath, stringify(config));
  return {
    dir,
    pki,
    issuer,
    upstream,
    configPath,
    logPath: join(dir, 'gateway.log'),
    async close() {
      await Promise.all([issuer.close(), upstream.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh DPoP key with its RFC 7638 thumbprint, and a proof maker. */
export async function dpopKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  return {
    jkt,
    proof: (htm, htu, token) =>
      new SignJWT({ jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ath: createHash('sha256').update(token).digest('base64url') })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
        .sign(privateKey),
  };
}

/**
 * The gateway in a child process (src/ through ts-source-hooks.js). Resolves once it listens.
 * `sample()`, `gc()` and `close()` talk over IPC; `exited` resolves with { code, signal }; `stderr` collects.
 */
export async function startChildGateway(world, opts = {}) {
  const execArgv = ['--experimental-transform-types', '--no-warnings', '--import', resolve(HERE, 'ts-source-hooks.js')];
  if (opts.exposeGc !== false) execArgv.unshift('--expose-gc');
  const args = [world.configPath];
  if (opts.log !== false) args.push(world.logPath);
  const child = fork(resolve(HERE, 'soak-gateway-child.js'), args, { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d.toString()));
  child.stdout.on('data', () => {});
  let exit;
  const exited = new Promise((ok) => child.once('exit', (code, signal) => ok((exit = { code, signal }))));
  const pending = new Map();
  let seq = 0;
  child.on('message', (m) => {
    if (m?.type === 'reply') {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }
  });
  const ask = (type, extra = {}, timeoutMs = 10_000) =>
    new Promise((ok, fail) => {
      if (exit !== undefined || !child.connected) return fail(new Error(`gateway child exited (${JSON.stringify(exit)}): ${stderr.slice(-2000)}`));
      const id = ++seq;
      const t = setTimeout(() => {
        pending.delete(id);
        fail(new Error(`gateway child did not answer ${type} in ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (m) => {
        clearTimeout(t);
        ok(m);
      });
      child.send({ type, id, ...extra });
    });
  const ready = await new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`gateway child did not start: ${stderr}`)), 30_000);
    child.on('message', (m) => {
      if (m?.type === 'ready') {
        clearTimeout(t);
        ok(m);
      }
    });
    exited.then((e) => {
      clearTimeout(t);
      fail(new Error(`gateway child exited before listening (${JSON.stringify(e)}): ${stderr}`));
    });
  });
  return {
    pid: ready.pid,
    port: ready.port,
    adminPort: ready.admin,
    exited,
    get exit() {
      return exit;
    },
    get stderr() {
      return stderr;
    },
    alive: () => exit === undefined,
    sample: async () => (await ask('sample')).sample,
    gc: async () => (await ask('gc', {}, 30_000)).sample,
    async close() {
      if (exit !== undefined) return;
      try {
        await ask('close', { deadlineMs: 2000 }, 10_000);
      } catch {
        // already gone
      }
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
