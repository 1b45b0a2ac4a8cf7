// Fake authorization server: real HTTPS on 127.0.0.1:0, real JWKS, real signed access tokens.
import { randomUUID, type KeyObject, type webcrypto } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CompactSign, SignJWT, base64url, exportJWK, generateKeyPair, type JWK } from 'jose';
import { testPki, type TestPki } from './pki.js';

export type Alg = 'ES256' | 'PS256' | 'EdDSA' | 'RS256';
export type IssuerMode = 'ok' | 'down' | 'slow' | 'garbage';
/** A signing key accepted by jose (CryptoKey, KeyObject, or an HMAC secret). */
export type KeyLike = webcrypto.CryptoKey | KeyObject | Uint8Array;

export interface IssuerKey {
  kid: string;
  alg: Alg;
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
  /** public JWK as published (kid, alg, use) */
  jwk: JWK;
}

export interface MintOpts {
  /** sign with the newest published key of this alg (addKey it first); with `key`: just the header alg; 'none' = unsigned */
  alg?: Alg | 'none' | (string & {});
  /** kid header; if it names a key in `keys` that key signs, otherwise the current key signs */
  kid?: string;
  /** default 'at+jwt'; null omits typ */
  typ?: string | null;
  /** sign with a foreign key (header kid stays the current key's unless `kid` is given) */
  key?: KeyLike;
  /** extra/overriding protected header fields */
  header?: Record<string, unknown>;
  /** rewrite the serialised payload before signing (JSON no object can express: nesting past the stack, raw text) */
  payloadText?: (json: string) => string;
}

export interface TestIssuer {
  /** https origin, e.g. https://127.0.0.1:PORT */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly port: number;
  /** CA PEM that verifies the issuer's TLS cert */
  readonly caPem: string;
  /** keys published in the JWKS, in order; `current` is the default signer */
  readonly keys: IssuerKey[];
  readonly current: IssuerKey;
  jwksFetches: number;
  metadataFetches: number;
  mode: IssuerMode;
  /** delay for mode 'slow' (default 5000 ms) */
  slowMs: number;
  /** adds a key to the JWKS; becomes current only via rotate() */
  addKey(alg?: Alg): Promise<IssuerKey>;
  /** new current key (same alg unless given); the previous current key leaves the JWKS */
  rotate(alg?: Alg): Promise<IssuerKey>;
  mint(claims?: Record<string, unknown>, opts?: MintOpts): Promise<string>;
  close(): Promise<void>;
}

export function cnfX5t(thumbprint: string): { 'x5t#S256': string } {
  return { 'x5t#S256': thumbprint };
}

export function cnfJkt(jkt: string): { jkt: string } {
  return { jkt };
}

let kidSeq = 0;

async function newKey(alg: Alg): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `k${++kidSeq}-${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

export async function startIssuer(opts: { alg?: Alg; pki?: TestPki } = {}): Promise<TestIssuer> {
  const pki = opts.pki ?? (await testPki());
  let current = await newKey(opts.alg ?? 'ES256');
  let keys: IssuerKey[] = [current];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    let body: unknown;
    if (path === '/jwks') {
      state.jwksFetches++;
      body = { keys: keys.map((k) => k.jwk) };
    } else if (path === '/.well-known/oauth-authorization-server' || path === '/.well-known/openid-configuration') {
      state.metadataFetches++;
      body = {
        issuer: state.issuer,
        jwks_uri: state.jwksUri,
        introspection_endpoint: `${state.issuer}/introspect`,
        token_endpoint: `${state.issuer}/token`,
      };
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
      return;
    }
    const answer = (): void => {
      if (state.mode === 'down') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
      } else if (state.mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('not json');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      }
    };
    if (state.mode === 'slow') {
      const t = setTimeout(() => {
        timers.delete(t);
        answer();
      }, state.slowMs);
      timers.add(t);
    } else {
      answer();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `https://127.0.0.1:${port}`;

  const state: TestIssuer = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    port,
    caPem: pki.ca.certPem,
    get keys() {
      return keys;
    },
    get current() {
      return current;
    },
    jwksFetches: 0,
    metadataFetches: 0,
    mode: 'ok',
    slowMs: 5000,
    async addKey(alg = current.alg) {
      const k = await newKey(alg);
      keys = [...keys, k];
      return k;
    },
    async rotate(alg = current.alg) {
      const old = current;
      current = await newKey(alg);
      keys = [...keys.filter((k) => k !== old), current];
      return current;
    },
    async mint(claims = {}, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: issuer,
        aud: 'https://api.test',
        sub: 'user-1',
        client_id: 'client-1',
        scope: 'accounts',
        iat: now,
        exp: now + 300,
        jti: randomUUID(),
      };
      for (const [k, v] of Object.entries(claims)) {
        if (v === undefined) delete payload[k];
        else payload[k] = v;
      }
      let signer = current;
      if (o.kid !== undefined) signer = keys.find((k) => k.kid === o.kid) ?? current;
      else if (o.alg && !o.key && o.alg !== 'none' && o.alg !== current.alg) {
        const found = keys.findLast((k) => k.alg === o.alg);
        if (!found) throw new Error(`no ${o.alg} key: call addKey('${o.alg}') first`);
        signer = found;
      }
      const header: Record<string, unknown> = {
        alg: o.key || o.alg === 'none' ? (o.alg ?? signer.alg) : signer.alg,
        kid: o.kid ?? signer.kid,
        ...(o.typ === null ? {} : { typ: o.typ ?? 'at+jwt' }),
        ...o.header,
      };
      if (header['alg'] === 'none') {
        const enc = (v: unknown): string => base64url.encode(JSON.stringify(v));
        return `${enc(header)}.${enc(payload)}.`;
      }
      if (o.payloadText !== undefined) {
        return new CompactSign(new TextEncoder().encode(o.payloadText(JSON.stringify(payload))))
          .setProtectedHeader(header as { alg: string })
          .sign(o.key ?? signer.privateKey);
      }
      return new SignJWT(payload)
        .setProtectedHeader(header as { alg: string })
        .sign(o.key ?? signer.privateKey);
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
