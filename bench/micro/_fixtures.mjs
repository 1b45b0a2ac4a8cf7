// Shared inputs of the micro-benchmarks: a parsed config (through the real loader), its compiled
// routes, an ES256 issuer key with a local JWKS, a DPoP key, a token and pre-signed proofs.
// (Files starting with `_` are not benchmarks.)
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { parseConfig } from '../../dist/config/load.js';
import { compileRouteTable } from '../../dist/route/table.js';
import { gatewayRoutes } from '../lib/scenario.mjs';

export const ISSUER = 'https://as.bank.test';
export const AUDIENCE = 'https://api.test';
export const PUBLIC_ORIGIN = 'https://api.test';
export const PATH = '/dpop/accounts/123';
export const HTU = `${PUBLIC_ORIGIN}${PATH}`;

const b64u = (s) => Buffer.from(s).toString('base64url');

function config() {
  return {
    server: { listen: '127.0.0.1:0', public_origin: PUBLIC_ORIGIN, tls: { cert_file: 'x.crt', key_file: 'x.key' } },
    issuers: { main: { issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` } },
    // The throughput bench's route table, so route matching is timed on the same table.
    routes: gatewayRoutes('http://127.0.0.1:9'),
  };
}

let cached;
export function fixtures() {
  cached ??= (async () => {
    const loaded = parseConfig(stringify(config()), '<inline>', {});
    const table = compileRouteTable(loaded);
    const route = table.match('GET', PATH, 'api.test');
    const issuerKey = await generateKeyPair('ES256', { extractable: true });
    const kid = 'k1';
    const jwks = { keys: [{ ...(await exportJWK(issuerKey.publicKey)), kid, alg: 'ES256', use: 'sig' }] };
    const keys = { getKey: createLocalJWKSet(jwks) };
    const issuer = { name: 'main', config: loaded.config.issuers.main, keys };
    // DPoP key (ES256) and an Ed25519 one for comparison.
    const dpop = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const dpopJwk = dpop.publicKey.export({ format: 'jwk' });
    const ed = generateKeyPairSync('ed25519');
    const edJwk = ed.publicKey.export({ format: 'jwk' });
    const jkt = (jwk) =>
      createHash('sha256')
        .update(jwk.kty === 'EC' ? `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}` : `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`)
        .digest('base64url');
    const now = Math.floor(Date.now() / 1000);
    const mint = (cnf) =>
      new SignJWT({ sub: 'user-1', client_id: 'client-1', scope: 'accounts', jti: randomUUID(), cnf })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(issuerKey.privateKey);
    const token = await mint({ jkt: jkt(dpopJwk) });
    const edToken = await mint({ jkt: jkt(edJwk) });
    const proofs = (alg, key, jwk, tok, n) => {
      const header = b64u(JSON.stringify({ typ: 'dpop+jwt', alg, jwk }));
      const ath = createHash('sha256').update(tok).digest('base64url');
      return Array.from({ length: n }, () => {
        const input = `${header}.${b64u(JSON.stringify({ jti: randomUUID(), htm: 'GET', htu: HTU, iat: now, ath }))}`;
        const sig = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign(null, Buffer.from(input), key);
        return `${input}.${sig.toString('base64url')}`;
      });
    };
    return {
      loaded,
      table,
      route,
      issuer,
      token,
      edToken,
      dpopJwk,
      edJwk,
      jkt: jkt(dpopJwk),
      edJkt: jkt(edJwk),
      es256Proofs: proofs('ES256', dpop.privateKey, dpopJwk, token, 1000),
      edProofs: proofs('EdDSA', ed.privateKey, edJwk, edToken, 1000),
      dpopPublicKey: dpop.publicKey,
      createPrivateKey,
    };
  })();
  return cached;
}
