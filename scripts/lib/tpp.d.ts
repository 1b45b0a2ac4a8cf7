// Types for tpp.js (plain ESM JS, shared by `npm run demo` and the e2e suite).
import type { JWK } from 'jose';
import type * as client from 'openid-client';
import type { HttpsFetch, SentRequest } from './https-fetch.js';

export interface DpopKey {
  readonly handle: client.DPoPHandle;
  readonly keyPair: client.CryptoKeyPair;
  /** RFC 7638 thumbprint of the public key (what cnf.jkt must be). */
  readonly jkt: string;
}

export interface ApiAnswer {
  readonly status: number;
  readonly interactionId: string | undefined;
  readonly echoedInteractionId: string | undefined;
  /** All WWW-Authenticate fields, comma-joined. */
  readonly wwwAuthenticate: string;
  /** The `error` of the challenge that carries one. */
  readonly error: string | undefined;
  /** WWW-Authenticate as parsed by oauth4webapi, when it raised a challenge error. */
  readonly challenges: client.WWWAuthenticateChallenge[] | undefined;
  readonly body: string;
  readonly json: any;
}

export interface TppOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  readonly privateJwk?: JWK & { alg: string };
  readonly connectTo?: Record<string, { host: string; port: number; servername?: string }>;
}

export interface CallOptions {
  readonly method?: string;
  readonly body?: string;
  readonly dpop?: DpopKey;
  readonly interactionId?: string;
}

export interface Tpp {
  readonly clientId: string;
  readonly config: client.Configuration;
  readonly fetch: HttpsFetch;
  dpopKey(alg?: 'ES256' | 'PS256' | 'EdDSA'): Promise<DpopKey>;
  clientCredentials(o: { resource: string; scope: string; dpop?: DpopKey }): Promise<string>;
  authorizationCode(o: { resource: string; scope: string; redirectUri: string; dpop?: DpopKey }): Promise<string>;
  revoke(token: string): Promise<void>;
  call(token: string, url: string, o?: CallOptions): Promise<ApiAnswer>;
  lastRequest(): SentRequest | undefined;
  replay(captured: SentRequest, o?: { interactionId?: string }): Promise<ApiAnswer>;
}

export function createTpp(o: TppOptions): Promise<Tpp>;
