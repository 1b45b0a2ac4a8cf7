// What the benches send and to which gateway: the route table, the gateway config and the serialised
// requests, shared by run.mjs (throughput) and instructions.mjs (instructions per request).
import { AUDIENCE, HOST, PUBLIC_ORIGIN } from './fixtures.mjs';

export function gatewayConfig(fx, { routes, replay, issuers, logLevel = 'info' }) {
  return {
    server: {
      listen: '127.0.0.1:0',
      public_origin: PUBLIC_ORIGIN,
      tls: { cert_file: fx.files.serverCertFile, key_file: fx.files.serverKeyFile },
      limits: { keep_alive_timeout_ms: 60_000 },
    },
    issuers: issuers ?? { main: { issuer: fx.issuer.issuer, jwks_uri: fx.issuer.jwksUri, ca_file: fx.files.caFile } },
    ...(replay && { replay }),
    routes,
    logging: { level: logLevel },
  };
}

/** The gateway's route table in the bench: the two measured routes among a few realistic neighbours. */
export function gatewayRoutes(upstream) {
  const up = { url: upstream, timeout_ms: 10_000 };
  const auth = { issuers: ['main'], audience: AUDIENCE };
  const filler = ['consents', 'balances', 'transactions', 'beneficiaries', 'standing-orders', 'direct-debits'].map((p) => ({
    id: p,
    match: { methods: ['GET', 'POST'], path_prefix: `/v1/${p}` },
    auth: { ...auth, binding: 'any', scopes: { all_of: ['accounts'] } },
    upstream: up,
  }));
  return [
    ...filler,
    { id: 'mtls', match: { methods: ['GET', 'POST'], path_prefix: '/mtls' }, auth: { ...auth, binding: 'mtls', scopes: { all_of: ['accounts'] } }, upstream: up },
    { id: 'dpop', match: { methods: ['GET', 'POST'], path_prefix: '/dpop' }, auth: { ...auth, binding: 'dpop', scopes: { all_of: ['accounts'] } }, upstream: up },
    { id: 'payments', match: { methods: ['POST'], path: '/payments' }, auth: { ...auth, binding: 'any', scopes: { all_of: ['payments'] } }, upstream: up },
  ];
}

/** Serialised requests and TLS targets for one set of fixtures. */
export function requestsFor(fx) {
  const common = `Host: ${HOST}\r\nUser-Agent: fapi-bench/1\r\nAccept: application/json\r\nx-fapi-interaction-id: ${fx.interactionId}\r\n`;
  return {
    bearerRequest: (path, token) => `GET ${path} HTTP/1.1\r\n${common}Authorization: Bearer ${token}\r\n\r\n`,
    /** head + proof + tail; the proof fields for proofs.mjs. */
    dpopRequest: (path, token) => ({
      head: `GET ${path} HTTP/1.1\r\n${common}Authorization: DPoP ${token}\r\nDPoP: `,
      tail: '\r\n\r\n',
      proof: { alg: 'ES256', privateJwk: fx.key.privateJwk, publicJwk: fx.key.publicJwk, htm: 'GET', htu: `${PUBLIC_ORIGIN}${path}`, ath: fx.ath },
    }),
    tlsTarget: (port, withCert) => ({
      host: '127.0.0.1',
      port,
      tls: true,
      servername: 'localhost',
      ca: fx.pki.ca.certPem,
      ...(withCert && { cert: fx.pki.client1.certPem, key: fx.pki.client1.keyPem }),
    }),
  };
}
