// Types for authorization-server.js (plain ESM JS, shared by `npm run demo` and the e2e suite).
import type { JWK } from 'jose';

export type PrivateJwk = JWK & { kid: string; alg: string; use: 'sig' };

export function generateSigningKey(alg?: 'PS256' | 'ES256' | 'EdDSA'): Promise<PrivateJwk>;
export function publicJwk(jwk: JWK): JWK;

export interface ResourceServerSpec {
  /** Space-separated scopes the AS issues for this resource. */
  readonly scope: string;
  /** RFC 9068 JWT (default) or opaque (introspection). */
  readonly format?: 'jwt' | 'opaque';
  /** JWT signing alg (default PS256); the AS needs a key of that type. */
  readonly alg?: 'PS256' | 'ES256';
  readonly ttlS?: number;
}

export interface AuthorizationServerOptions {
  readonly tls: { readonly certPem: string; readonly keyPem: string };
  readonly clientCaPem?: string;
  readonly clients: Record<string, unknown>[];
  readonly resources: Record<string, ResourceServerSpec>;
  readonly signingKeys?: PrivateJwk[];
  readonly accountId?: string;
}

export interface AuthorizationServer {
  readonly issuer: string;
  readonly port: number;
  /** The oidc-provider instance in use (oidc-provider ships no types). */
  readonly provider: any;
  readonly signingKeys: readonly PrivateJwk[];
  /**
   * A new signing key (generated, or `key`) goes first and signs from now on; the previous ones stay
   * published unless keepOld is false.
   */
  rotateSigningKey(alg?: 'PS256' | 'ES256', opts?: { keepOld?: boolean; key?: PrivateJwk }): Promise<PrivateJwk>;
  close(): Promise<void>;
}

export function startAuthorizationServer(o: AuthorizationServerOptions): Promise<AuthorizationServer>;
