// Picks the verifier from the token's `cnf` after checking that the scheme fits it
// (DPOP-14..DPOP-20, MTLS-1, TOK-1). The DPoP replay claim is returned, not made: it runs last.
import { GatewayError } from '../errors/gateway-error.js';
import type { Binding, BindingPolicy, Credentials, RequestFacts, Route, TokenClaims } from '../types.js';
import type { DpopNonces } from './dpop-nonce.js';
import type { DpopVerifier } from './dpop-proof.js';
import { expectedHtu } from './htu.js';
import { verifyCertificateBinding } from './mtls.js';

export interface BindingVerifier {
  /** Answers or refuses (GatewayError) at once: nothing here waits on I/O. */
  verify(facts: RequestFacts, creds: Credentials, claims: TokenClaims, route: Route): Binding;
}

const accepts = (policy: BindingPolicy, kind: 'mtls' | 'dpop'): boolean => policy === kind || policy === 'any' || policy === 'none';

const HTU_CACHE_MAX = 4096;

export class SenderConstraintVerifier implements BindingVerifier {
  private readonly htus = new Map<string, string>();

  constructor(
    private readonly dpop: DpopVerifier,
    private readonly publicOrigin: string,
    private readonly requireTrustedChain: boolean,
    private readonly nonces?: DpopNonces,
  ) {}

  verify(facts: RequestFacts, creds: Credentials, claims: TokenClaims, route: Route): Binding {
    const cnf = claims.cnf;
    if (cnf.kind === 'jkt' && creds.scheme === 'bearer') {
      throw new GatewayError('GW_DPOP_BOUND_AS_BEARER', 'DPOP-17 DPoP-bound token sent with the Bearer scheme');
    }
    if (creds.scheme === 'dpop' && cnf.kind !== 'jkt') {
      throw new GatewayError('GW_DPOP_SCHEME_UNBOUND', `DPOP-16 DPoP scheme with a ${cnf.kind === 'x5t' ? 'certificate-bound' : 'unbound'} token`);
    }
    switch (cnf.kind) {
      case 'none':
        if (route.binding !== 'none') throw new GatewayError('GW_TOKEN_UNBOUND', 'TOK-1 token has no cnf');
        return { kind: 'none', thumbprint: undefined };
      case 'x5t':
        if (!accepts(route.binding, 'mtls')) throw new GatewayError('GW_BINDING_NOT_ACCEPTED', `route accepts ${route.binding} only`);
        return verifyCertificateBinding(facts, cnf.thumbprint, this.requireTrustedChain);
      case 'jkt': {
        if (!accepts(route.binding, 'dpop')) throw new GatewayError('GW_BINDING_NOT_ACCEPTED', `route accepts ${route.binding} only`);
        if (claims.tokenType !== undefined && claims.tokenType.toLowerCase() !== 'dpop') {
          throw new GatewayError('GW_TOKEN_INVALID', 'DPOP-20 token_type is not DPoP for a jkt-bound token');
        }
        return this.verifyProof(facts, creds, claims, cnf.thumbprint, route);
      }
    }
  }

  private verifyProof(facts: RequestFacts, creds: Credentials, claims: TokenClaims, expectedJkt: string, route: Route): Binding {
    const r = this.dpop.verifyNow({
      proofs: creds.proofs,
      method: facts.method,
      htu: this.expectedHtu(facts.path, route.publicOrigin),
      accessToken: creds.token,
      accessTokenSha256: claims.tokenHash,
      expectedJkt,
      nonceRequired: route.dpop.nonce,
    });
    const binding = { kind: 'dpop' as const, thumbprint: r.jkt, replay: { key: r.replayKey, ttlMs: r.ttlMs, iatS: r.iatS } };
    // DPOP-27: rotate by handing out the next nonce on the response.
    return route.dpop.nonce && this.nonces !== undefined ? { ...binding, responseHeaders: { 'dpop-nonce': this.nonces.issue() } } : binding;
  }

  /**
   * expectedHtu parses a URL; the same few paths come back all the time. Bounded: cleared when full.
   * `origin`: the route's own public_origin (DPOP-10), keyed apart from the server's.
   */
  private expectedHtu(path: string, origin: string | undefined): string {
    const key = origin === undefined ? path : `${origin}${path}`;
    let htu = this.htus.get(key);
    if (htu === undefined) {
      htu = expectedHtu(origin ?? this.publicOrigin, path);
      if (this.htus.size >= HTU_CACHE_MAX) this.htus.clear();
      this.htus.set(key, htu);
    }
    return htu;
  }
}
