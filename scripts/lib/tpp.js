// A bank API client (a TPP) built on openid-client 6 / oauth4webapi: AS discovery, client_credentials
// with private_key_jwt or tls_client_auth and a resource indicator, the authorization code flow with
// PAR + PKCE, DPoP proofs, revocation, and API calls through the gateway. The client library makes
// every token request and every proof; this file only supplies transport (https-fetch.js) and a
// "browser" that follows the AS's redirects.
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, importJWK } from 'jose';
import * as client from 'openid-client';
import { createHttpsFetch } from './https-fetch.js';

/** What the gateway answered, as the TPP saw it. */
function answerOf(response, body, interactionId, challenges) {
  const wwwAuthenticate = response.headers.get('www-authenticate') ?? '';
  const error = /error="([^"]*)"/.exec(wwwAuthenticate)?.[1];
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    /** the x-fapi-interaction-id the TPP sent (the gateway echoes a UUID) */
    interactionId,
    echoedInteractionId: response.headers.get('x-fapi-interaction-id') ?? undefined,
    wwwAuthenticate,
    /** the `error` of the challenge that carries one */
    error,
    /** WWW-Authenticate as parsed by oauth4webapi (when it raised a challenge error) */
    challenges,
    body,
    json,
  };
}

/**
 * @param {object} o
 * @param {string} o.issuer        the AS issuer identifier (discovery)
 * @param {string} o.clientId
 * @param {string} o.ca            PEM trusted for the AS's and the gateway's TLS certificates
 * @param {string} [o.cert]        TLS client certificate (PEM): tls_client_auth and mTLS-bound tokens
 * @param {string} [o.key]
 * @param {object} [o.privateJwk]  private_key_jwt signing key (a private JWK with alg)
 * @param {Record<string, {host: string, port: number}>} [o.connectTo]  e.g. the API host -> the gateway's port
 */
export async function createTpp(o) {
  const fetch = createHttpsFetch({ ca: o.ca, cert: o.cert, key: o.key, connectTo: o.connectTo });
  let auth;
  let metadata = {};
  if (o.privateJwk !== undefined) {
    auth = client.PrivateKeyJwt(await importJWK(o.privateJwk, o.privateJwk.alg));
    metadata = { token_endpoint_auth_signing_alg: o.privateJwk.alg };
  } else if (o.cert !== undefined) {
    auth = client.TlsClientAuth();
  } else {
    auth = client.None();
  }
  const config = await client.discovery(new URL(o.issuer), o.clientId, metadata, auth, { [client.customFetch]: fetch });

  const tpp = {
    clientId: o.clientId,
    config,
    fetch,

    /** A fresh DPoP key pair and the library's handle for it (jkt = RFC 7638 thumbprint). */
    async dpopKey(alg = 'ES256') {
      const keyPair = await client.randomDPoPKeyPair(alg);
      const handle = client.getDPoPHandle(config, keyPair);
      return { handle, keyPair, jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) };
    },

    /** client_credentials for one resource (RFC 8707); DPoP-bound when a handle is given, else mTLS-bound by the AS policy. */
    async clientCredentials({ resource, scope, dpop }) {
      const r = await client.clientCredentialsGrant(config, { resource, scope }, dpop === undefined ? undefined : { DPoP: dpop.handle });
      return r.access_token;
    },

    /**
     * The FAPI 2.0 authorization code flow: PAR (with dpop_jkt when DPoP) + PKCE S256, the user agent
     * following the AS's redirects (the AS logs its test user in and consents), then the code exchange.
     */
    async authorizationCode({ resource, scope, redirectUri, dpop }) {
      const verifier = client.randomPKCECodeVerifier();
      const url = await client.buildAuthorizationUrlWithPAR(
        config,
        { redirect_uri: redirectUri, scope, resource, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' },
        dpop === undefined ? undefined : { DPoP: dpop.handle },
      );
      const jar = new Map();
      let next = url.href;
      for (let i = 0; i < 10 && !next.startsWith(redirectUri); i++) {
        const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
        const r = await fetch(next, { method: 'GET', headers: cookie === '' ? {} : { cookie } });
        for (const c of r.headers.getSetCookie()) {
          const pair = c.split(';', 1)[0] ?? '';
          const eq = pair.indexOf('=');
          if (eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        const location = r.headers.get('location');
        if (r.status !== 303 && r.status !== 302) throw new Error(`authorization flow stopped at ${new URL(next).pathname}: HTTP ${r.status} ${await r.text()}`);
        if (location === null) throw new Error('redirect without Location');
        next = new URL(location, next).href;
      }
      const tokens = await client.authorizationCodeGrant(
        config,
        new URL(next),
        { pkceCodeVerifier: verifier, idTokenExpected: false },
        undefined,
        dpop === undefined ? undefined : { DPoP: dpop.handle },
      );
      return tokens.access_token;
    },

    /** RFC 7009 revocation at the AS. */
    async revoke(token) {
      await client.tokenRevocation(config, token, { token_type_hint: 'access_token' });
    },

    /** Call the API through the gateway the way the library does it (Authorization + DPoP proof when DPoP). */
    async call(token, url, { method = 'GET', body, dpop, interactionId = randomUUID() } = {}) {
      const headers = new Headers({ 'x-fapi-interaction-id': interactionId });
      if (body !== undefined) headers.set('content-type', 'application/json');
      try {
        const r = await client.fetchProtectedResource(config, token, new URL(url), method, body, headers, dpop === undefined ? undefined : { DPoP: dpop.handle });
        return answerOf(r, await r.text(), interactionId, undefined);
      } catch (e) {
        if (e instanceof client.WWWAuthenticateChallengeError) {
          return answerOf(e.response, await e.response.text(), interactionId, e.cause);
        }
        throw e;
      }
    },

    /** The last request this TPP sent, exactly (headers incl. Authorization and DPoP proof). */
    lastRequest() {
      return fetch.sent.at(-1);
    },

    /**
     * Send a captured request again over a new TLS connection of this TPP: token and DPoP proof byte for
     * byte; only x-fapi-interaction-id (covered by nothing) is fresh, so the answer can be told apart.
     */
    async replay(captured, { interactionId = randomUUID() } = {}) {
      const headers = captured.headers.map(([n, v]) => [n, n.toLowerCase() === 'x-fapi-interaction-id' ? interactionId : v]);
      const r = await fetch.replay({ ...captured, headers });
      return answerOf(r, await r.text(), interactionId, undefined);
    },
  };
  return tpp;
}
