// Everything the servers under test need that is not load: PKI files, the issuer (HTTPS JWKS + signed
// tokens, from test/support), a DPoP key, and a small RFC 7662 introspection endpoint for opaque tokens.
import './ts-hooks.mjs';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:https';

const { testPki, writePki } = await import('../../test/support/pki.ts');
const { startIssuer, cnfX5t, cnfJkt } = await import('../../test/support/issuer.ts');
const { dpopKey } = await import('../../test/support/dpop.ts');

export const AUDIENCE = 'https://api.test';
export const PUBLIC_ORIGIN = 'https://api.test';
export const HOST = 'api.test';

/** RFC 7662 endpoint that knows exactly one opaque token (mTLS-bound to client1). Counts its calls. */
async function startIntrospection(pki, token, x5t) {
  const state = { calls: 0, origin: '', close: async () => undefined };
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      state.calls++;
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const now = Math.floor(Date.now() / 1000);
      const body =
        req.url === '/introspect' && form.get('token') === token
          ? {
              active: true,
              iss: state.origin,
              sub: 'user-1',
              client_id: 'client-1',
              scope: 'accounts',
              aud: AUDIENCE,
              iat: now,
              exp: now + 3600,
              token_type: 'Bearer',
              cnf: { 'x5t#S256': x5t },
            }
          : { active: false };
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  state.origin = `https://127.0.0.1:${server.address().port}`;
  state.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

export async function createFixtures() {
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  const issuer = await startIssuer({ pki, alg: 'ES256' });
  const key = await dpopKey('ES256');
  const exp = Math.floor(Date.now() / 1000) + 3 * 3600;
  const mtlsToken = await issuer.mint({ cnf: cnfX5t(pki.client1.x5tS256), exp });
  const dpopToken = await issuer.mint({ cnf: cnfJkt(key.jkt), exp });
  const opaqueToken = `opq_${randomBytes(32).toString('base64url')}`;
  const introspection = await startIntrospection(pki, opaqueToken, pki.client1.x5tS256);
  return {
    pki,
    files,
    issuer,
    key,
    tokens: { mtls: mtlsToken, dpop: dpopToken, opaque: opaqueToken },
    ath: createHash('sha256').update(dpopToken).digest('base64url'),
    introspection,
    interactionId: randomUUID(),
    async close() {
      await introspection.close();
      await issuer.close();
    },
  };
}
