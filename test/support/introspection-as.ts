// Fake authorization server with an RFC 7662 introspection endpoint (and RFC 9701 signed answers):
// real HTTPS on 127.0.0.1:0, metadata with an mTLS alias, a JWKS, and real client authentication
// (the private_key_jwt assertion signature, the mTLS client certificate thumbprint, or the Basic secret).
import { createHash, randomBytes, randomUUID, type KeyObject, type webcrypto } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import { testPki, type PkiFiles, type TestPki } from './pki.js';

type Key = webcrypto.CryptoKey | KeyObject;

export type RegisteredClient =
  | { readonly id: string; readonly auth: 'private_key_jwt'; readonly publicKey: Key }
  | { readonly id: string; readonly auth: 'tls_client_auth'; readonly x5t: string }
  | { readonly id: string; readonly auth: 'client_secret_basic'; readonly secret: string };

/** ok; down: 503; slow: answers after slowMs; garbage: 200 with a non-JSON body; status:N; not-boolean: active "true". */
export type AsMode = 'ok' | 'down' | 'slow' | 'garbage' | `status:${number}` | 'not-boolean';

/** How a signed (RFC 9701) answer is spoiled. */
export interface SignedTweaks {
  typ?: string;
  aud?: string;
  /** sign with this key instead of the AS key (the header kid stays the AS key's) */
  signWith?: Key;
  /** answer plain JSON although a signed answer was asked for */
  plain?: boolean;
}

export interface IntrospectionCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly form: URLSearchParams;
  /** the client authentication was checked and accepted */
  readonly authenticated: boolean;
  readonly detail?: string;
}

export interface IntrospectionAs {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly introspectionEndpoint: string;
  readonly mtlsIntrospectionEndpoint: string;
  readonly client: RegisteredClient;
  readonly calls: IntrospectionCall[];
  mode: AsMode;
  slowMs: number;
  /** answer RFC 9701 JWTs when asked for them */
  signResponses: boolean;
  signed: SignedTweaks;
  /** publish the mTLS alias in the metadata */
  mtlsAlias: boolean;
  /** a random opaque access token the AS knows, active until revoked */
  issueOpaque(claims?: Record<string, unknown>): string;
  /** a signed JWT access token (typ at+jwt) the AS also knows for introspection */
  mintJwt(claims?: Record<string, unknown>): Promise<string>;
  revoke(token: string): void;
  /** set the introspection answer members of a known token */
  update(token: string, claims: Record<string, unknown>): void;
  close(): Promise<void>;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function startIntrospectionAs(opts: { client: RegisteredClient; pki?: TestPki; audience?: string }): Promise<IntrospectionAs> {
  const pki = opts.pki ?? (await testPki());
  const audience = opts.audience ?? 'https://api.test';
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `as-${randomUUID().slice(0, 8)}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const tokens = new Map<string, Record<string, unknown>>();
  const seenJti = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();

  const defaults = (): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: state.issuer, aud: audience, sub: 'user-1', client_id: 'tpp-1', scope: 'accounts', iat: now, exp: now + 300 };
  };
  const merge = (base: Record<string, unknown>, claims: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...base };
    for (const [k, v] of Object.entries(claims)) {
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    return out;
  };

  /** Real client authentication; returns a reason on failure. */
  async function authenticate(path: string, headers: IncomingHttpHeaders, form: URLSearchParams, socket: TLSSocket): Promise<string | undefined> {
    const c = opts.client;
    switch (c.auth) {
      case 'private_key_jwt': {
        if (headers.authorization !== undefined) return 'unexpected Authorization header';
        if (form.get('client_assertion_type') !== ASSERTION_TYPE) return 'client_assertion_type';
        const assertion = form.get('client_assertion');
        if (assertion === null) return 'no client_assertion';
        try {
          const { payload } = await jwtVerify(assertion, c.publicKey, {
            issuer: c.id,
            subject: c.id,
            audience: [state.issuer, `${state.issuer}${path}`],
            requiredClaims: ['jti', 'iat', 'exp'],
            algorithms: ['PS256', 'ES256', 'EdDSA'],
          });
          if ((payload.exp as number) - (payload.iat as number) > 300) return 'assertion lives too long';
          if (seenJti.has(payload.jti as string)) return 'assertion replayed';
          seenJti.add(payload.jti as string);
        } catch (e) {
          return `assertion: ${(e as Error).message}`;
        }
        if (form.has('client_id') && form.get('client_id') !== c.id) return 'client_id does not match the assertion';
        return undefined;
      }
      case 'tls_client_auth': {
        const raw = socket.getPeerCertificate()?.raw;
        if (raw === undefined) return 'no client certificate';
        if (createHash('sha256').update(raw).digest('base64url') !== c.x5t) return 'client certificate thumbprint mismatch';
        if (form.get('client_id') !== c.id) return 'client_id missing or wrong';
        return undefined;
      }
      case 'client_secret_basic': {
        const h = headers.authorization ?? '';
        if (!h.startsWith('Basic ')) return 'no Basic credentials';
        const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, '%20'));
        if (i < 0 || dec(decoded.slice(0, i)) !== c.id || dec(decoded.slice(i + 1)) !== c.secret) return 'wrong client id or secret';
        return undefined;
      }
    }
  }

  async function answerOf(form: URLSearchParams, accept: string): Promise<{ type: string; body: string }> {
    const token = form.get('token') ?? '';
    const known = tokens.get(token);
    const r: Record<string, unknown> = known === undefined ? { active: false } : { active: true, ...known };
    if (state.mode === 'not-boolean') r.active = 'true';
    if (!(state.signResponses && accept.includes('application/token-introspection+jwt')) || state.signed.plain) {
      return { type: 'application/json', body: JSON.stringify(r) };
    }
    const jwt = await new SignJWT({ token_introspection: r })
      .setProtectedHeader({ alg: 'ES256', kid, typ: state.signed.typ ?? 'token-introspection+jwt' })
      .setIssuer(state.issuer)
      .setAudience(state.signed.aud ?? opts.client.id)
      .setIssuedAt()
      .sign(state.signed.signWith ?? privateKey);
    return { type: 'application/token-introspection+jwt', body: jwt };
  }

  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        const json = (status: number, body: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        };
        if (req.method === 'GET' && path === '/jwks') return json(200, { keys: [jwk] });
        if (req.method === 'GET' && (path === '/.well-known/oauth-authorization-server' || path === '/.well-known/openid-configuration')) {
          return json(200, {
            issuer: state.issuer,
            jwks_uri: state.jwksUri,
            introspection_endpoint: state.introspectionEndpoint,
            ...(state.mtlsAlias && { mtls_endpoint_aliases: { introspection_endpoint: state.mtlsIntrospectionEndpoint } }),
            introspection_endpoint_auth_methods_supported: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic'],
          });
        }
        if (req.method !== 'POST' || (path !== '/introspect' && path !== '/mtls/introspect')) return json(404, { error: 'not_found' });
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const formOk = String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded') && form.has('token');
        const reason = formOk ? await authenticate(path, req.headers, form, req.socket as TLSSocket) : 'not a form with a token';
        state.calls.push({ path, headers: req.headers, form, authenticated: reason === undefined, ...(reason !== undefined && { detail: reason }) });
        if (reason !== undefined) return json(401, { error: 'invalid_client', error_description: reason });
        const send = async (): Promise<void> => {
          if (state.mode === 'down') return void res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
          if (state.mode.startsWith('status:')) return json(Number(state.mode.slice(7)), { error: 'server_error' });
          if (state.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json');
          const a = await answerOf(form, String(req.headers.accept ?? ''));
          res.writeHead(200, { 'content-type': a.type, 'cache-control': 'no-store' }).end(a.body);
        };
        if (state.mode === 'slow') {
          const t = setTimeout(() => {
            timers.delete(t);
            void send();
          }, state.slowMs);
          timers.add(t);
        } else {
          await send();
        }
      })().catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `https://127.0.0.1:${port}`;

  const state: IntrospectionAs = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    introspectionEndpoint: `${issuer}/introspect`,
    mtlsIntrospectionEndpoint: `${issuer}/mtls/introspect`,
    client: opts.client,
    calls: [],
    mode: 'ok',
    slowMs: 3000,
    signResponses: false,
    signed: {},
    mtlsAlias: true,
    issueOpaque(claims = {}) {
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, merge(defaults(), claims));
      return token;
    },
    async mintJwt(claims = {}) {
      const payload = merge({ ...defaults(), jti: randomUUID() }, claims);
      const token = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey);
      const dpopBound = typeof payload.cnf === 'object' && payload.cnf !== null && 'jkt' in payload.cnf;
      tokens.set(token, { ...payload, token_type: dpopBound ? 'DPoP' : 'Bearer' });
      return token;
    },
    revoke(token) {
      tokens.delete(token);
    },
    update(token, claims) {
      const t = tokens.get(token);
      if (t !== undefined) tokens.set(token, merge(t, claims));
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}

/**
 * The harness config of an opaque-token issuer introspected at `as` (tls_client_auth with the client1
 * certificate, as `startIntrospectionAs({ client: { id: 'gw-mtls', auth: 'tls_client_auth', ... } })`).
 */
export function opaqueIssuer(as: IntrospectionAs, files: PkiFiles): Record<string, unknown> {
  return {
    issuer: as.issuer,
    ca_file: files.caFile,
    token_format: 'opaque',
    introspection: { client_id: 'gw-mtls', auth: 'tls_client_auth', cert_file: files.client1CertFile, key_file: files.client1KeyFile },
  };
}
