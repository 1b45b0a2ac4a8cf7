// A real FAPI 2.0 authorization server on loopback: oidc-provider behind a Node https server that
// terminates TLS itself and asks for a client certificate (so mTLS client authentication and
// certificate-bound tokens work), with PAR + PKCE, DPoP, tls_client_auth / self_signed_tls_client_auth,
// private_key_jwt, resource indicators issuing RFC 9068 JWT access tokens (or opaque ones, per
// resource), introspection and revocation. Used by the e2e suite and by `npm run demo`.
//
// No devInteractions: the /interaction/:uid route below logs in a fixed account and grants what was
// asked, so an authorization code flow can be driven by a program.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { errors as oidcErrors, Provider } from 'oidc-provider';

/**
 * oidc-provider storage: a plain in-memory adapter owned by one AS instance (it survives the provider
 * being rebuilt for a key rotation). Entries expire; revokeByGrantId removes everything of a grant.
 */
function memoryAdapterFactory() {
  const store = new Map();
  const live = (key) => {
    const e = store.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e.value;
  };
  return class Adapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
      store.set(this.key(id), { value: payload, expiresAt });
      if (payload.uid !== undefined && this.model === 'Session') store.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
      if (payload.userCode !== undefined) store.set(`userCode:${payload.userCode}`, { value: id, expiresAt });
    }
    async find(id) {
      return live(this.key(id));
    }
    async findByUid(uid) {
      const id = live(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode) {
      const id = live(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id) {
      const v = live(this.key(id));
      if (v !== undefined) v.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId) {
      for (const [k, e] of store) if (e.value?.grantId === grantId) store.delete(k);
    }
  };
}

/** A private signing JWK for the AS (kid = RFC 7638 thumbprint, alg pinned, use sig). */
export async function generateSigningKey(alg = 'PS256') {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('PS') && { modulusLength: 2048 }) });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

/** The public half of a private JWK (what a client registers, or a JWKS publishes). */
export function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return pub;
}

/**
 * @param {object} o
 * @param {{ certPem: string, keyPem: string }} o.tls   the AS's server certificate (SAN 127.0.0.1)
 * @param {string} [o.clientCaPem]  trust anchor for CA-issued client certificates (tls_client_auth)
 * @param {object[]} o.clients      oidc-provider client metadata
 * @param {Record<string, { scope: string, format?: 'jwt' | 'opaque', alg?: string, ttlS?: number }>} o.resources
 *   resource indicators (= audiences) the AS issues tokens for
 * @param {object[]} [o.signingKeys] private JWKs; the first one of an alg signs (default: one PS256 key)
 * @param {string} [o.accountId]    who "logs in" during the authorization code flow (default alice)
 */
export async function startAuthorizationServer(o) {
  let signingKeys = o.signingKeys ?? [await generateSigningKey('PS256')];
  const accountId = o.accountId ?? 'alice';
  const cookieKeys = [randomBytes(32).toString('base64url')];
  const adapter = memoryAdapterFactory();

  let handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  // requestCert without rejectUnauthorized: the TLS layer asks every client for a certificate and
  // lets oidc-provider decide (self-signed certificates are legitimate for self_signed_tls_client_auth).
  const server = createServer(
    { cert: o.tls.certPem, key: o.tls.keyPem, ...(o.clientCaPem !== undefined && { ca: o.clientCaPem }), requestCert: true, rejectUnauthorized: false },
    (req, res) => handler(req, res),
  );
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const port = server.address().port;
  const issuer = `https://127.0.0.1:${port}`;

  const peerCert = (ctx) => {
    const cert = ctx.socket.getPeerX509Certificate?.();
    return cert ?? undefined;
  };

  const configuration = () => ({
    adapter,
    clients: o.clients,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    clientAuthMethods: ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
      dPoPSigningAlgValues: ['PS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['PS256', 'ES256'],
    },
    clientDefaults: { id_token_signed_response_alg: 'PS256', grant_types: ['client_credentials'], response_types: [] },
    scopes: ['openid'],
    pkce: { required: () => true },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
      AuthorizationCode: 60,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      PushedAuthorizationRequest: 60,
    },
    features: {
      devInteractions: { enabled: false },
      fapi: { enabled: true, profile: '2.0' },
      clientCredentials: { enabled: true },
      // Any authenticated client may introspect (the gateway is a registered client); a client revokes its own tokens.
      introspection: { enabled: true, allowedPolicy: () => true },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
      dPoP: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        // oidc-provider 9: return the peer certificate (X509Certificate or PEM), or undefined.
        getCertificate: (ctx) => peerCert(ctx),
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => {
          const cert = peerCert(ctx);
          if (cert === undefined) return false;
          if (property === 'tls_client_auth_subject_dn') return cert.subject.split('\n').join(',') === expected;
          if (property === 'tls_client_auth_san_dns') return (cert.subjectAltName ?? '').split(', ').includes(`DNS:${expected}`);
          return false;
        },
      },
      resourceIndicators: {
        enabled: true,
        // One resource per request: the client names it (RFC 8707), nothing is assumed.
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          const r = o.resources[indicator];
          if (r === undefined) throw new oidcErrors.InvalidTarget();
          const format = r.format ?? 'jwt';
          return {
            scope: r.scope,
            audience: indicator,
            accessTokenTTL: r.ttlS ?? 300,
            accessTokenFormat: format,
            ...(format === 'jwt' && { jwt: { sign: { alg: r.alg ?? 'PS256' } } }),
          };
        },
      },
    },
  });

  let provider;
  const build = () => {
    const p = new Provider(issuer, configuration());
    const callback = p.callback();
    handler = (req, res) => {
      const m = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
      if (m !== null && req.method === 'GET') {
        interact(p, req, res).catch((e) => {
          res.statusCode = 500;
          res.end(String(e?.message ?? e));
        });
        return;
      }
      callback(req, res);
    };
    provider = p;
  };

  /** The "user": logs in as accountId and consents to everything the client asked for. */
  async function interact(p, req, res) {
    const details = await p.interactionDetails(req, res);
    const { prompt, params } = details;
    if (prompt.name === 'login') {
      await p.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId ? await p.Grant.find(details.grantId) : new p.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await p.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  build();

  const sockets = new Set();
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return {
    issuer,
    port,
    get provider() {
      return provider;
    },
    /** The private signing keys in use, first = current signer. */
    get signingKeys() {
      return signingKeys;
    },
    /**
     * Key rotation: a new signing key goes first (it signs from now on) and the previous ones stay
     * published so tokens already issued still verify. Reconfigures the provider in place (same
     * issuer, same port, same storage: oidc-provider's memory adapter is shared in-process).
     */
    async rotateSigningKey(alg = 'PS256', { keepOld = true, key } = {}) {
      const next = key ?? (await generateSigningKey(alg));
      signingKeys = keepOld ? [next, ...signingKeys] : [next];
      build();
      return next;
    },
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
    },
  };
}
