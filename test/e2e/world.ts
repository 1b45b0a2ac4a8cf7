// The e2e world: a real FAPI 2.0 AS (oidc-provider over TLS, scripts/lib/authorization-server.js),
// the legacy API (test/support/upstream.ts), the gateway built from a config that goes through the
// production loader, and TPPs built on openid-client (scripts/lib/tpp.js), all on loopback.
import { X509Certificate } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { generateSigningKey, publicJwk, startAuthorizationServer, type AuthorizationServer } from '../../scripts/lib/authorization-server.js';
import { createTpp, type Tpp } from '../../scripts/lib/tpp.js';
import { parseConfig } from '../../src/config/load.js';
import { startGateway, type RunningGateway } from '../../src/main.js';
import { issueServerCert, testPki, writePki, type PkiFiles, type TestPki } from '../support/pki.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

/** The API's public origin, and the resource indicator / audience its tokens are issued for. */
export const API = 'https://api.test';
/** Another resource server of the same AS: its tokens must not work at the API. */
export const OTHER_AUDIENCE = 'https://other.test';
/** A second resource behind the gateway whose tokens are opaque (introspected). */
export const CARDS = 'https://cards.test';
export const REDIRECT_URI = 'https://tpp.test/cb';

type Raw = Record<string, any>;

export interface WorldOptions {
  /** Add the opaque-token issuer (introspection) and the /cards route. */
  readonly opaque?: boolean;
}

export interface World {
  readonly pki: TestPki;
  readonly files: PkiFiles;
  readonly as: AuthorizationServer;
  readonly upstream: TestUpstream;
  readonly gw: RunningGateway;
  /** Raw gateway log lines (JSON). */
  readonly logs: string[];
  readonly tpp: {
    /** private_key_jwt + DPoP-bound tokens; client_credentials and PAR + PKCE authorization code. */
    readonly dpop: Tpp;
    /** tls_client_auth with a CA-issued certificate (CN=client-1), certificate-bound tokens. */
    readonly mtls: Tpp;
    /** self_signed_tls_client_auth, certificate-bound tokens. */
    readonly selfSigned: Tpp;
    /** Another legitimate bank client (tls_client_auth, CN=client-2): the mTLS token thief. */
    readonly other: Tpp;
    /** Not registered at the AS, no certificate: replays and uses stolen DPoP tokens with its own key. */
    readonly thief: Tpp;
  };
  url(path: string): string;
  logLines(): Raw[];
  /** The request log line for an interaction id (written when the response closes, so waits for it). */
  logFor(interactionId: string | undefined): Promise<Raw | undefined>;
  close(): Promise<void>;
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const pki = await testPki();
  const files = await writePki(undefined, pki);
  // The gateway's certificate names the API host the TPPs call (they reach it on loopback, like --connect-to).
  const gwCert = await issueServerCert(pki.ca, { cn: 'api.test', dnsNames: ['api.test'], ips: [] });
  const gwCertFile = join(files.dir, 'gateway.crt');
  const gwKeyFile = join(files.dir, 'gateway.key');
  await writeFile(gwCertFile, gwCert.certPem);
  await writeFile(gwKeyFile, gwCert.keyPem, { mode: 0o600 });

  const tppKey = await generateSigningKey('ES256');
  const gatewayKey = await generateSigningKey('PS256');
  const gatewayKeyFile = join(files.dir, 'gateway-introspection.jwk.json');
  await writeFile(gatewayKeyFile, JSON.stringify(gatewayKey), { mode: 0o600 });
  const selfSignedJwk = {
    ...(new X509Certificate(pki.selfSigned.certPem).publicKey.export({ format: 'jwk' }) as Raw),
    x5c: [pki.selfSigned.der.toString('base64')],
  };

  const as = await startAuthorizationServer({
    tls: pki.server,
    clientCaPem: pki.ca.certPem,
    signingKeys: [await generateSigningKey('PS256'), await generateSigningKey('ES256')],
    resources: {
      [API]: { scope: 'accounts payments', alg: 'PS256' },
      [OTHER_AUDIENCE]: { scope: 'accounts', alg: 'ES256' },
      [CARDS]: { scope: 'cards', format: 'opaque' },
    },
    clients: [
      {
        client_id: 'tpp-dpop',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [publicJwk(tppKey)] },
        dpop_bound_access_tokens: true,
        grant_types: ['client_credentials', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
      },
      { client_id: 'tpp-mtls', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=client-1', tls_client_certificate_bound_access_tokens: true },
      { client_id: 'tpp-self', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [selfSignedJwk] }, tls_client_certificate_bound_access_tokens: true },
      { client_id: 'tpp-other', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=client-2', tls_client_certificate_bound_access_tokens: true },
      // The gateway itself, for introspection (FAPI 2.0: private_key_jwt).
      { client_id: 'fapi-gateway', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'PS256', jwks: { keys: [publicJwk(gatewayKey)] } },
    ],
  });
  const upstream = await startUpstream();

  const route = (r: Raw): Raw => ({ ...r, upstream: { url: upstream.url, timeout_ms: 5000 } });
  const config: Raw = {
    server: { listen: '127.0.0.1:0', public_origin: API, tls: { cert_file: gwCertFile, key_file: gwKeyFile } },
    issuers: {
      // No jwks_uri: discovered from the AS metadata. Cooldown 1 s so a rotated key is picked up quickly.
      'bank-as': { issuer: as.issuer, ca_file: files.caFile, algorithms: ['PS256', 'ES256'], jwks_refetch_cooldown_s: 3 },
      ...(opts.opaque === true && {
        'bank-as-opaque': {
          issuer: as.issuer,
          token_format: 'opaque',
          ca_file: files.caFile,
          algorithms: ['PS256', 'ES256'],
          introspection: { client_id: 'fapi-gateway', auth: 'private_key_jwt', private_key_file: gatewayKeyFile, cache_max_s: 1, negative_cache_s: 1 },
        },
      }),
    },
    routes: [
      route({ id: 'accounts', match: { methods: ['GET'], path_prefix: '/accounts' }, auth: { issuers: ['bank-as'], audience: API, binding: 'any', scopes: { all_of: ['accounts'] } } }),
      route({ id: 'payments', match: { methods: ['POST'], path: '/payments' }, auth: { issuers: ['bank-as'], audience: API, binding: 'mtls', scopes: { all_of: ['payments'] } } }),
      ...(opts.opaque === true
        ? [route({ id: 'cards', match: { methods: ['GET'], path_prefix: '/cards' }, auth: { issuers: ['bank-as-opaque'], audience: CARDS, binding: 'any', scopes: { all_of: ['cards'] } } })]
        : []),
    ],
    // A fresh store refuses proofs that could predate it (iat less iat_future_s, DPOP-21) until it is
    // ready: 2 s here, not the default 10, and the world waits for readiness as a Service would.
    dpop: { iat_future_s: 2 },
    logging: { level: 'info' },
  };
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const gw = await startGateway(parseConfig(stringify(config), '<inline>', {}), { logDestination: sink });
  for (let i = 0; i < 100 && (await gw.notReady()) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
  const connectTo = { 'api.test': { host: '127.0.0.1', port: gw.apiAddress.port } };
  const ca = pki.ca.certPem;
  const [dpop, mtls, selfSigned, other, thief] = await Promise.all([
    createTpp({ issuer: as.issuer, clientId: 'tpp-dpop', ca, privateJwk: tppKey, connectTo }),
    createTpp({ issuer: as.issuer, clientId: 'tpp-mtls', ca, cert: pki.client1.certPem, key: pki.client1.keyPem, connectTo }),
    createTpp({ issuer: as.issuer, clientId: 'tpp-self', ca, cert: pki.selfSigned.certPem, key: pki.selfSigned.keyPem, connectTo }),
    createTpp({ issuer: as.issuer, clientId: 'tpp-other', ca, cert: pki.client2.certPem, key: pki.client2.keyPem, connectTo }),
    createTpp({ issuer: as.issuer, clientId: 'thief', ca, connectTo }),
  ]);

  const logLines = (): Raw[] => logs.map((l) => JSON.parse(l) as Raw);
  return {
    pki,
    files,
    as,
    upstream,
    gw,
    logs,
    tpp: { dpop, mtls, selfSigned, other, thief },
    url: (path) => `${API}${path}`,
    logLines,
    async logFor(interactionId) {
      const until = Date.now() + 2000;
      for (;;) {
        const line = logLines().find((l) => l.interaction_id === interactionId && l.reason !== undefined);
        if (line !== undefined || Date.now() > until) return line;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      await gw.close(1000);
      await upstream.close();
      await as.close();
      await rm(files.dir, { recursive: true, force: true });
    },
  };
}

/** The JWS header and payload of a JWT access token, as issued by the AS (for interop assertions). */
export function decodeJwt(token: string): { header: Raw; payload: Raw } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as Raw,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Raw,
  };
}
