// The pipeline, one line per stage. The only file that knows the order (requirements §2):
// facts -> route -> credentials -> token -> sender constraint -> scope -> request signature (opt-in) ->
// replay claim (last) -> forward (the response signed, opt-in).
// Stages throw GatewayError; this file renders, logs once and counts once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { BindingVerifier } from './binding/sender-constraint.js';
import type { ChallengeContext } from './errors/challenge.js';
import { GatewayError, isGatewayError } from './errors/gateway-error.js';
import { renderError } from './errors/render.js';
import { checkDetailsForwardable, prepareUpstreamHeaders, type ForwardContext } from './forward/headers.js';
import type { ForwardExtras, Forwarder } from './forward/proxy-forwarder.js';
import { EXPECTS_CONTINUE, SEND_TIMED_OUT, UNMET_EXPECTATION, type BodyRefused, type SendTimedOut } from './listen/api-server.js';
import { checkFapiHeaders } from './listen/fapi-headers.js';
import type { ClientTrust } from './listen/client-chain.js';
import type { ForwardedCertPolicy } from './listen/forwarded-cert.js';
import { hostOf, interactionIdOf, requestFacts, requiredCertificateMissing } from './listen/request-facts.js';
import { fieldValues } from './listen/header-fields.js';
import { normaliseTarget } from './route/normalize-path.js';
import { HOST_FIELD_RE } from './uri-host.js';
import type { ProtectedResourceMetadata } from './metadata/protected-resource.js';
import type { Logger } from './observe/logger.js';
import type { HistogramSeries } from './observe/hot-metrics.js';
import type { Metrics } from './observe/metrics.js';
import { requestLogWriter, type RequestLine, type RequestLogWriter } from './observe/request-log.js';
import { checkRemembered, type ReplayClock, type ReplayStore } from './replay/store.js';
import { acceptSignature, requestSignatureOf, type RequestSignatureVerifier, type VerifiedSignature } from './signature/request-signature.js';
import type { ResponseSigner } from './signature/response-signer.js';
import { fieldValue } from './signature/signature-base.js';
import { checkBoundTarget } from './route/bound-target.js';
import { checkFixedQuery, checkMethodOverride } from './route/query.js';
import type { RouteTable } from './route/table.js';
import { declaresBody, limitStreamedBody, readBody, type BufferBudget } from './forward/body.js';
import { allowedOrigin, corsResponseHeaders, preflightHeaders, preflightMethod } from './route/cors.js';
import { checkAuthorizationDetails } from './scope/authorization-details.js';
import { checkResourceBinding } from './scope/resource-binding.js';
import { checkScopes } from './scope/scopes.js';
import { checkStepUp } from './scope/step-up.js';
import { extractCredentials, schemeOf } from './token/credentials.js';
import { sha256Hex, type TokenValidator } from './token/jwt-validator.js';
import type { Binding, CorsPolicy, Route, TokenClaims } from './types.js';

export interface GatewaySettings {
  readonly realm: string;
  readonly dpopAlgs: readonly string[];
  readonly strictInteractionId: boolean;
  readonly strictFapiHeaders: boolean;
  readonly maxCredentialBytes: number;
  readonly maxHeaders: number;
  /** Requests one connection may have waiting behind the one being answered (see inTurn). */
  readonly maxPipelined: number;
  readonly forward: ForwardContext;
  /** server.public_origin: what clients call (DPOP-10, SIG-7), unless a route sets its own. */
  readonly publicOrigin: string;
  /** The client CAs in force (MTLS-4), for connections verified against others or long ago. */
  readonly clientTrust: ClientTrust;
  readonly forwardedCert: ForwardedCertPolicy | undefined;
  /**
   * tls.client_certificate: required, checked per request too: the handshake lets everyone in while
   * metadata is served without a certificate (PRM-6), and a connection opened under such a config
   * outlives a reload to the handshake check.
   */
  readonly certificateRequired: boolean;
  /** http_signatures.max_buffered_bytes: what signed bodies may hold at once (shared by every config). */
  readonly buffers: BufferBudget;
}

/** Everything one config generation needs. Swapped atomically on reload; a request keeps the one it started with. */
export interface Pipeline {
  readonly routes: RouteTable;
  readonly tokens: TokenValidator;
  readonly bindings: BindingVerifier;
  readonly replay: ReplayStore;
  /** DPOP-21: the process's future allowance over time and wall-clock steps. */
  readonly replayClock: ReplayClock;
  readonly forwarder: Forwarder;
  readonly settings: GatewaySettings;
  /** RFC 9728 documents, when `resource_metadata` is configured. */
  readonly metadata: ProtectedResourceMetadata | undefined;
  /** SIG-2..SIG-7, when `http_signatures` is configured (routes with signed_requests need it). */
  readonly signatures: RequestSignatureVerifier | undefined;
  /** SIG-8, SIG-9, when `http_signatures.response_signing` is configured. */
  readonly responseSigner: ResponseSigner | undefined;
}

const STAGES = ['token', 'binding', 'signature', 'replay', 'upstream'] as const;
type Stage = (typeof STAGES)[number];

const EMPTY = Buffer.alloc(0);

/** SIG-9: how long clients may cache the response-signing keys (a rotation publishes the new key first). */
const JWKS_MAX_AGE_S = 300;

/**
 * A refusal before the path was parsed: the target as sent, bounded, without what may hold a credential:
 * the query and a fragment (`#access_token=`), and the userinfo of an absolute-form target.
 */
const PATH_AS_SENT_MAX = 256;
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)/;
function pathAsSent(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const end = url.search(/[?#]/);
  let path = end === -1 ? url : url.slice(0, end);
  const abs = ABSOLUTE_FORM.exec(path);
  if (abs !== null) path = `${abs[1]}${(abs[2] as string).slice((abs[2] as string).lastIndexOf('@') + 1)}${path.slice(abs[0].length)}`;
  return path.length > PATH_AS_SENT_MAX ? `${path.slice(0, PATH_AS_SENT_MAX)}...` : path;
}

/** Stage latencies of one request, measured inline and recorded once with the log line. */
class StageTimes {
  readonly ms: Partial<Record<Stage, number>> = {};
  private upstreamSince: number | undefined;
  /** Records the time since `since`; returns now, the start of the next stage. */
  mark(stage: Stage, since: number): number {
    const now = performance.now();
    this.ms[stage] = now - since;
    return now;
  }
  /** The upstream stage ends when the response closes, which is also when the log line is written. */
  startUpstream(): void {
    this.upstreamSince = performance.now();
  }
  finish(): Partial<Record<Stage, number>> {
    if (this.upstreamSince !== undefined) this.mark('upstream', this.upstreamSince);
    return this.ms;
  }
}

/** What one request leaves behind for its log line. */
interface Outcome {
  readonly stages: StageTimes;
  path?: string;
  token?: string;
  route?: Route;
  claims?: TokenClaims;
  binding?: Binding;
  error?: GatewayError;
  forwarded: boolean;
  /** Answered by the gateway itself (RFC 9728 metadata, the response-signing JWKS, a CORS preflight). */
  served?: 'RESOURCE_METADATA' | 'SIGNING_KEYS' | 'CORS_PREFLIGHT';
  /** HDR-15: the request's Origin, when the route's CORS policy allows it. */
  corsOrigin?: string;
  /** HDR-15: the CORS policy of a route found only for a refusal made before routing. */
  corsPolicy?: CorsPolicy;
  /** SIG-10: the keyid that verified a signed request. */
  signatureKeyid?: string;
  /** Pipelined and never given its turn: its connection closed first, or it was over the limit. */
  unserved?: 'NOT_SERVED_CONNECTION_CLOSED' | 'PIPELINE_LIMIT';
}

/** PRM-1/PRM-4, SIG-9: 200 JSON with caching directives; HEAD gets the headers only. */
function serveMetadata(res: ServerResponse, o: Outcome, id: string, doc: string, maxAgeS: number, what: 'RESOURCE_METADATA' | 'SIGNING_KEYS' = 'RESOURCE_METADATA'): void {
  o.served = what;
  res.statusCode = 200;
  res.setHeader('x-fapi-interaction-id', id);
  res.setHeader('content-type', what === 'SIGNING_KEYS' ? 'application/jwk-set+json' : 'application/json');
  // Public documents: a browser client discovers the AS (RFC 9728, as OIDC discovery is read) or
  // verifies signed responses from any origin. A simple GET: no preflight needed.
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('cache-control', `max-age=${maxAgeS}`);
  res.setHeader('content-length', Buffer.byteLength(doc));
  res.end(res.req.method === 'HEAD' ? undefined : doc);
}

/** PRM-6, TLS-9: under `required`, a request on a connection without a trusted certificate of its own. */
function refuseCertless(req: IncomingMessage, res: ServerResponse, p: Pipeline): void {
  const missing = requiredCertificateMissing(req.socket as TLSSocket, p.settings.clientTrust);
  if (missing === undefined) return;
  // As the handshake refusal it stands for: nothing more on this connection.
  res.shouldKeepAlive = false;
  throw missing;
}

/** HDR-15: a preflight for a route with a CORS policy, answered here (no token is sent with one). */
function servePreflight(res: ServerResponse, o: Outcome, id: string, route: Route, policy: CorsPolicy): void {
  o.route = route;
  const origin = allowedOrigin(policy, res.req.headers.origin);
  if (origin === undefined) {
    throw new GatewayError('GW_CORS_ORIGIN_REFUSED', `HDR-15 preflight from origin ${JSON.stringify(res.req.headers.origin).slice(0, 200)}, not in the route's allowed_origins`);
  }
  o.served = 'CORS_PREFLIGHT';
  res.writeHead(204, ['x-fapi-interaction-id', id, ...preflightHeaders(policy, origin)]);
  res.end();
}

/**
 * The headers the gateway sets on a forwarded response. The upstream decides caching, except on
 * responses that carry a DPoP nonce (DPOP-27, HDR-14).
 */
function gatewayResponseHeaders(id: string, binding: Binding, route: Route, corsOrigin: string | undefined): string[] {
  const own = ['x-fapi-interaction-id', id];
  if (binding.responseHeaders !== undefined) {
    own.push('cache-control', 'no-store');
    for (const [k, v] of Object.entries(binding.responseHeaders)) own.push(k, v);
  }
  if (corsOrigin !== undefined && route.cors !== undefined) own.push(...corsResponseHeaders(route.cors, corsOrigin));
  return own;
}

/** HDR-15 on a refusal: an allowed origin's script must read the challenge and the nonce (DPOP-27). */
function refusalCorsHeaders(o: Outcome): string[] | undefined {
  const policy = o.route?.cors ?? o.corsPolicy;
  if (policy === undefined) return undefined;
  return o.corsOrigin === undefined ? ['vary', 'Origin'] : [...corsResponseHeaders(policy, o.corsOrigin), 'vary', 'Origin'];
}

/** A refusal's own headers: CORS (HDR-15) and, for a signature refusal, what to sign (RFC 9421 §5.1, E8). */
function refusalHeaders(req: IncomingMessage, o: Outcome, err: GatewayError): string[] | undefined {
  const cors = refusalCorsHeaders(o);
  if (err.code !== 'GW_HTTP_SIG_MISSING' && err.code !== 'GW_HTTP_SIG_INVALID') return cors;
  return [...(cors ?? []), 'accept-signature', acceptSignature(req.headers.dpop !== undefined, declaresBody(req))];
}

/** The request Node is reading on a connection. */
interface Reading {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  outcome: Outcome;
}

/** The pipelined requests of one connection waiting for their turn. */
interface PipelineQueue {
  /** Not keyed by interaction id: a client may send the same one on every request. */
  readonly gone: Set<{ readonly id: string; readonly outcome: Outcome; readonly stop: () => void }>;
  /** Over the limit: nothing more is forwarded on this connection. */
  overflowed: boolean;
}

export class Gateway {
  private draining = false;
  /** Pipelined requests waiting for their turn, per connection (see inTurn). */
  private readonly waiting = new WeakMap<object, PipelineQueue>();
  /** The request being read, per connection (see bodyRefused). */
  private readonly reading = new WeakMap<object, Reading>();
  private readonly stageSeries: Record<Stage, HistogramSeries>;
  private readonly writeLine: RequestLogWriter;

  constructor(
    private pipeline: Pipeline,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.stageSeries = Object.fromEntries(STAGES.map((stage) => [stage, metrics.stage.child({ stage })])) as Record<Stage, HistogramSeries>;
    this.writeLine = requestLogWriter(logger);
  }

  swap(next: Pipeline): Pipeline {
    const previous = this.pipeline;
    this.pipeline = next;
    return previous;
  }

  /** Every response not yet started closes its connection: requests in flight as well as new ones. */
  drain(): void {
    this.draining = true;
    this.pipeline.forwarder.drain();
  }

  /**
   * The parser refused a body on this connection: the body of the latest request handed over, if that
   * one is not complete. Its log line says so, it is never forwarded (nor its forwarding continued),
   * and its interaction id answers the 400; `answered`: its response was already sent (a refusal that
   * did not wait for the body), so nothing more is written.
   */
  readonly bodyRefused: BodyRefused = (socket, code, detail) => {
    const r = this.reading.get(socket);
    if (r === undefined || r.req.complete) return undefined;
    if (r.res.writableEnded) return { id: r.id, answered: true, res: r.res };
    r.outcome.error ??= new GatewayError(code, `request body refused by the parser: ${detail}`);
    if (r.outcome.forwarded) this.pipeline.forwarder.abort(r.req);
    return { id: r.id, answered: false, res: r.res, headers: refusalCorsHeaders(r.outcome) };
  };

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const p = this.pipeline;
    const iid = interactionIdOf(req);
    // Every answer carries the interaction id (HDR-1): renderError, serveMetadata and the forwarder set it.
    const outcome: Outcome = { forwarded: false, stages: new StageTimes() };
    res.once('close', () => this.log(req, res, iid.id, iid.replaced, outcome, started));
    const fail = (e: unknown): void => this.fail(req, res, p, iid.id, outcome, e);
    // The latest request handed over on a connection is the one whose body Node is reading. Kept per
    // connection, not per request: a WeakMap entry or a property per request cost ~10 % of an mTLS
    // request's instructions (callgrind); updating an entry costs next to nothing.
    const reading = this.reading.get(req.socket);
    if (reading === undefined) this.reading.set(req.socket, { req, res, id: iid.id, outcome });
    else {
      reading.req = req;
      reading.res = res;
      reading.id = iid.id;
      reading.outcome = outcome;
    }
    if (res.socket === null) return this.inTurn(req, res, iid.id, outcome, p.settings.maxPipelined, () => void this.run(req, res, p, iid, outcome, fail).catch(fail));
    this.run(req, res, p, iid, outcome, fail).catch(fail);
  };

  /**
   * A pipelined request waits until the responses before it on its connection are done (Node hands its
   * response the socket then), so nothing is forwarded on a connection an earlier response closes
   * (RFC 9112 §9.6): a pipelined POST must not reach the upstream if it will never be answered.
   * Node parses every pipelined request it has read, without a limit: past `limit` waiting, none of
   * them is forwarded and the connection closes after the response in progress; past twice that (a
   * client that keeps sending), at once.
   */
  private inTurn(req: IncomingMessage, res: ServerResponse, id: string, outcome: Outcome, limit: number, go: () => void): void {
    const socket = req.socket;
    // One close listener per connection, however many requests wait on it.
    let queue = this.waiting.get(socket);
    if (queue === undefined) {
      const q: PipelineQueue = (queue = { gone: new Set(), overflowed: false });
      this.waiting.set(socket, q);
      socket.once('close', () => {
        if (q.gone.size === 0) return;
        // One line for the connection (each request still gets its own line: aborted, with the reason).
        const ids = [...q.gone].slice(0, 20).map((w) => w.id);
        this.logger.info(
          { interaction_ids: ids, count: q.gone.size, remote: socket.remoteAddress },
          'pipelined requests not served: their connection closed before their turn',
        );
        for (const w of q.gone) w.stop();
        q.gone.clear();
      });
    }
    const q = queue;
    // Its log line says why it was never served, unless its turn comes.
    outcome.unserved = q.overflowed ? 'PIPELINE_LIMIT' : 'NOT_SERVED_CONNECTION_CLOSED';
    const waiter = { id, outcome, stop: (): void => void res.off('socket', turn) };
    const turn = (): void => {
      // The response before this one is complete: close now rather than serve an overflowing connection.
      if (q.overflowed) return void socket.destroy();
      q.gone.delete(waiter);
      outcome.unserved = undefined;
      go();
    };
    q.gone.add(waiter);
    res.once('socket', turn);
    if (q.gone.size > limit && !q.overflowed) {
      q.overflowed = true;
      for (const w of q.gone) w.outcome.unserved = 'PIPELINE_LIMIT';
      this.logger.warn(
        { interaction_id: id, remote: socket.remoteAddress, limit },
        'pipelining limit: more requests waiting on one connection than server.limits.max_pipelined_requests; closing it after the response in progress',
      );
    }
    if (q.gone.size > 2 * limit) socket.destroy();
  }

  /** A stage refused, forwarding failed, or our own code threw: answer (or cut the connection) once. */
  private fail(req: IncomingMessage, res: ServerResponse, p: Pipeline, id: string, o: Outcome, e: unknown): void {
    if (o.error !== undefined) return;
    const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', `unexpected: ${(e as Error)?.stack ?? String(e)}`);
    o.error = err;
    if (this.draining) res.shouldKeepAlive = false;
    const ctx: ChallengeContext = {
      schemes: o.route?.schemes ?? [],
      used: schemeOf(req),
      realm: p.settings.realm,
      dpopAlgs: p.settings.dpopAlgs,
      resourceMetadata: o.route === undefined ? undefined : p.metadata?.advertisedFor(o.route),
    };
    // A refusal before routing (strict x-fapi headers, Expect) to a browser: its route's CORS still applies.
    // (o.path set: the route lookup itself ran, and found nothing.)
    if (o.route === undefined && o.path === undefined && req.headers.origin !== undefined) this.corsBeforeRouting(req, p, o);
    try {
      renderError(res, err, ctx, id, refusalHeaders(req, o, err));
    } catch (e2) {
      // Rendering must never take the process down: cut this connection instead.
      this.logger.error({ interaction_id: id, detail: (e2 as Error).message }, 'error response failed');
      res.destroy();
    }
  }

  /**
   * HDR-15: the route's CORS policy for a refusal made before routing (strict x-fapi-* checks, too many
   * header fields); only the method, path and Host are read. The log still says no route.
   */
  private corsBeforeRouting(req: IncomingMessage, p: Pipeline, o: Outcome): void {
    // The Host as routing would accept it (exactly one, uri-host[:port]), or no route at all.
    const hosts = fieldValues(req, 'host');
    if (hosts?.length !== 1 || !HOST_FIELD_RE.test(hosts[0] as string)) return;
    const target = normaliseTarget(req.url ?? '');
    if (!target.ok) return;
    const route = p.routes.match(req.method ?? '', target.path, hostOf(req));
    if (route?.cors === undefined) return;
    o.corsOrigin = allowedOrigin(route.cors, req.headers.origin);
    o.corsPolicy = route.cors;
  }

  private async run(
    req: IncomingMessage,
    res: ServerResponse,
    p: Pipeline,
    iid: { id: string; replaced?: string },
    o: Outcome,
    fail: (e: GatewayError) => void,
  ): Promise<void> {
    // Its body was refused while it waited for its turn (pipelined): answered by the listener already.
    if (o.error !== undefined) return;
    // Draining: requests already on an open connection are still served, then the connection closes.
    if (this.draining) res.shouldKeepAlive = false;
    if (iid.replaced !== undefined && p.settings.strictInteractionId) {
      throw new GatewayError('GW_INTERACTION_ID_INVALID', 'Q-8 non-UUID x-fapi-interaction-id (strict)');
    }
    if (p.settings.strictFapiHeaders) checkFapiHeaders(req);
    if ((req as IncomingMessage & { [UNMET_EXPECTATION]?: true })[UNMET_EXPECTATION] === true) {
      throw new GatewayError('GW_EXPECTATION_FAILED', 'RFC 9110 §10.1.1 Expect other than 100-continue');
    }
    // RFC 9112 §6.1: a transfer coding other than chunked is not understood (nginx answers 501 too); the
    // upstream would decode it, the gateway could not see the content (SIG-6, body limits).
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') throw new GatewayError('GW_TRANSFER_CODING_UNSUPPORTED', `Transfer-Encoding ${JSON.stringify(te).slice(0, 80)}`);
    const facts = requestFacts(req, iid.id, iid.replaced, p.settings.maxHeaders, p.settings.clientTrust, p.settings.forwardedCert);
    o.path = facts.path;
    // PRM-1: the gateway's own metadata documents, without a token, before any route.
    const doc = facts.method === 'GET' || facts.method === 'HEAD' ? p.metadata?.document(facts.path) : undefined;
    if (doc !== undefined) return serveMetadata(res, o, iid.id, doc, (p.metadata as ProtectedResourceMetadata).maxAgeS);
    // SIG-9: the keys that sign responses, for clients to verify them with.
    if (p.responseSigner?.jwksPath === facts.path && (facts.method === 'GET' || facts.method === 'HEAD')) {
      return serveMetadata(res, o, iid.id, p.responseSigner.jwks, JWKS_MAX_AGE_S, 'SIGNING_KEYS');
    }
    if (facts.method === 'OPTIONS') {
      const asked = preflightMethod(req.headers);
      const target = asked === undefined ? undefined : p.routes.match(asked, facts.path, facts.host);
      if (target?.cors !== undefined) {
        // PRM-6: a connection without a certificate reads the metadata, and preflights nothing.
        o.route = target;
        if (p.settings.certificateRequired) refuseCertless(req, res, p);
        return servePreflight(res, o, iid.id, target, target.cors);
      }
    }
    const route = (o.route = p.routes.match(facts.method, facts.path, facts.host));
    if (route === undefined) throw new GatewayError('GW_ROUTE_NOT_FOUND', 'no route for this method, host and path');
    // After routing, so the 403 carries the route's challenges (ERR-5).
    if (p.settings.certificateRequired) refuseCertless(req, res, p);
    if (route.cors !== undefined) o.corsOrigin = allowedOrigin(route.cors, req.headers.origin);
    if (req.headers.upgrade !== undefined) throw new GatewayError('GW_UPGRADE_REFUSED', 'HDR-12 Upgrade requested');
    if (facts.query !== '') {
      if (route.upstream.fixedQuery !== undefined) checkFixedQuery(facts.query, route.upstream.fixedQuery);
      checkMethodOverride(facts.query);
    }
    if (route.resourceBinding !== undefined) checkBoundTarget(route.resourceBinding, facts.path, facts.query);
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > route.upstream.maxBodyBytes) {
      // Not read: the connection closes after the 413 rather than draining the body.
      res.shouldKeepAlive = false;
      throw new GatewayError('GW_BODY_TOO_LARGE', `Content-Length ${length} over max_body_bytes ${route.upstream.maxBodyBytes}`);
    }
    const creds = extractCredentials(req, facts.query, p.settings.maxCredentialBytes);
    o.token = creds.token;
    // Stage latencies are read inline and recorded once, with the log line.
    let t = performance.now();
    // A token seen before is answered from the cache without a promise; anything else takes the full path.
    const claims = (o.claims = p.tokens.cached?.(creds.token, route, creds.tokenSha256) ?? (await p.tokens.validate(creds.token, route, creds.tokenSha256)));
    t = o.stages.mark('token', t);
    const binding = (o.binding = p.bindings.verify(facts, creds, claims, route));
    t = o.stages.mark('binding', t);
    checkScopes(claims, route);
    if (route.authorizationDetails !== undefined) checkAuthorizationDetails(claims, route);
    if (route.resourceBinding !== undefined) checkResourceBinding(claims, route, facts.method, facts.path, facts.query);
    if (route.stepUp !== undefined) checkStepUp(claims, route, Date.now() / 1000);
    checkDetailsForwardable(claims, p.settings.forward);
    let extra: ForwardExtras | null | undefined;
    if (route.signedRequests || route.signResponses) {
      t = performance.now();
      extra = await this.signedMessage(req, res, p, route, facts.method, claims, o);
      // A signed request's body upload is part of it.
      if (route.signedRequests) o.stages.mark('signature', t);
    }
    // The client went away, or the parser refused the body (already answered): nothing to forward.
    if (extra === null || o.error !== undefined) return;
    const body = extra?.body;
    const replay = binding.replay;
    if (replay !== undefined) {
      t = performance.now();
      checkRemembered(p.replay, replay.iatS, p.replayClock);
      const first = p.replay.claimNow?.(replay.key, replay.ttlMs) ?? (await p.replay.claim(replay.key, replay.ttlMs));
      o.stages.mark('replay', t);
      if (!first) throw new GatewayError('GW_DPOP_REPLAY', 'DPOP-21 jti already used');
    }
    // The parser refused its body while the checks were awaited: it must not reach the upstream.
    if (o.error !== undefined) return;
    prepareUpstreamHeaders(facts, route, { claims, binding }, p.settings.forward);
    req.url = facts.query === '' ? facts.path : `${facts.path}?${facts.query}`;
    o.forwarded = true;
    o.stages.startUpstream();
    if (body === undefined && (req as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE] === true) res.writeContinue();
    p.forwarder.forward(req, res, route, gatewayResponseHeaders(iid.id, binding, route, o.corsOrigin), fail, extra);
    // Node allows a body only with Content-Length (checked above) or Transfer-Encoding.
    if (body === undefined && req.headers['transfer-encoding'] !== undefined) {
      const max = route.upstream.maxBodyBytes;
      limitStreamedBody(req, max, (seen) => {
        res.shouldKeepAlive = false;
        p.forwarder.abort(req);
        const detail = `streamed body over max_body_bytes ${max} (${seen} bytes so far)`;
        if (!res.writableFinished) return fail(new GatewayError('GW_BODY_TOO_LARGE', detail));
        // The upstream answered before reading it all, and that answer is complete (its log line written):
        // nothing to tell the client but a cut connection, so nothing more is read or served on it.
        this.logger.warn({ interaction_id: iid.id, route: route.id, reason: 'GW_BODY_TOO_LARGE', remote: facts.remoteAddress, detail }, 'request body passed the limit after the answer; connection cut');
        req.socket.destroy();
      });
    }
  }

  /**
   * SIG-2..SIG-8: a signed request's body read and its signature checked, and the signer of the
   * response bound to it. null: the client went away first.
   */
  private async signedMessage(req: IncomingMessage, res: ServerResponse, p: Pipeline, route: Route, method: string, claims: TokenClaims, o: Outcome): Promise<ForwardExtras | null> {
    const origin = route.publicOrigin ?? p.settings.publicOrigin;
    // SIG-7: what the client called (req.url is still the target as sent).
    const targetUri = `${origin.endsWith('/') ? origin.slice(0, -1) : origin}${req.url ?? ''}`;
    // A signed exchange holds whole bodies: once it is over, the connection (idle, kept alive) must not
    // keep this request and response reachable, and the bodies with them.
    res.once('close', () => {
      if (this.reading.get(req.socket)?.req === req) this.reading.delete(req.socket);
    });
    let body: Buffer | undefined;
    let verified: VerifiedSignature | undefined;
    if (route.signedRequests) {
      const verifier = p.signatures as RequestSignatureVerifier;
      const hasBody = declaresBody(req);
      // The head first: a refusal never waits for (or buffers) a body, nor sends 100 Continue.
      verified = await verifier.verify({ method, targetUri, rawHeaders: req.rawHeaders, hasBody }, claims.clientId);
      o.signatureKeyid = verified.keyid;
      // A request without a body is forwarded as one (its stream unread), not as an empty buffer.
      if (hasBody) {
        // Capped by http_signatures.max_body_bytes at config load (route table).
        const read = await this.signedBody(req, res, route.upstream.maxBodyBytes, p.settings.buffers);
        if (read === undefined) return null;
        body = read;
      }
      verified.checkBody(body ?? EMPTY);
    }
    if (!route.signResponses) return { body };
    const signer = p.responseSigner as ResponseSigner;
    const contentDigest = fieldValue(req.rawHeaders, 'content-digest');
    const signature = verified ?? requestSignatureOf(req.rawHeaders);
    return {
      body,
      signResponse: {
        maxBodyBytes: signer.maxBodyBytes,
        headers: (status, content) => signer.sign(status, content, { method, targetUri, contentDigest, signature }),
      },
    };
  }

  /**
   * SIG-6: a signed request's body, read whole once its head checks passed (the digest is over these
   * bytes), up to `max`. Undefined: the client went away first.
   */
  private async signedBody(req: IncomingMessage, res: ServerResponse, max: number, budget: BufferBudget): Promise<Buffer | undefined> {
    if ((req as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE] === true) res.writeContinue();
    const length = Number(req.headers['content-length']);
    const read = await readBody(req, max, Number.isSafeInteger(length) ? length : undefined, budget);
    if (read === 'closed') return undefined;
    if (read === 'too-large' || read === 'no-budget') {
      // Not read to its end: the connection closes after the refusal rather than draining the body.
      res.shouldKeepAlive = false;
      if (read === 'no-budget') throw new GatewayError('GW_BUFFERS_FULL', `signed request body: http_signatures.max_buffered_bytes is held by other bodies`, { retryAfterS: 1 });
      throw new GatewayError('GW_BODY_TOO_LARGE', `signed request body over ${max} bytes (max_body_bytes, http_signatures.max_body_bytes)`);
    }
    // Held until the exchange is over (the upstream may be sent it again, on a reset connection).
    res.once('close', () => read.release());
    return read.body();
  }

  private log(req: IncomingMessage, res: ServerResponse, id: string, replaced: string | undefined, o: Outcome, started: number): void {
    const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
    // What the client saw: an upstream failing after the response head leaves that status (and a cut
    // connection), not the error's.
    // 0: nothing was sent (the client or the connection went away first).
    const status = res.headersSent ? res.statusCode : (o.error?.status ?? 0);
    // 501 (a transfer coding the gateway does not take) is the client's doing, not a failed dependency.
    const decision = o.error === undefined ? (o.forwarded || o.served !== undefined ? 'allow' : 'aborted') : o.error.status >= 500 && o.error.status !== 501 ? 'error' : 'deny';
    // Forwarded (allowed) but the client left before the upstream's answer: it still reached the upstream.
    // Set only on the rare response whose client stopped reading (cut by the listener).
    const cut = (res as SendTimedOut)[SEND_TIMED_OUT];
    const reason =
      o.error?.code ?? (cut !== undefined ? 'CLIENT_SEND_TIMEOUT' : o.forwarded ? (res.headersSent ? 'OK' : 'CLIENT_ABORTED') : (o.served ?? o.unserved ?? 'CLIENT_ABORTED'));
    const routeId = o.route?.id ?? '-';
    this.metrics.requests.inc({ route: routeId, decision, reason, status: String(status) });
    this.metrics.duration.observe({ route: routeId, decision }, latencyMs / 1000);
    const ms = o.stages.finish();
    for (const stage of STAGES) {
      const v = ms[stage];
      if (v !== undefined) this.stageSeries[stage].observe(v / 1000);
    }
    if (o.binding?.kind === 'none' && o.error === undefined) this.metrics.unboundAccepted.inc({ route: routeId });
    const line: RequestLine = {
      interaction_id: id,
      replaced_interaction_id: replaced,
      route: routeId,
      method: req.method,
      path: o.path ?? (o.error === undefined ? undefined : pathAsSent(req.url)),
      decision,
      reason,
      status,
      latency_ms: latencyMs,
      client_id: o.claims?.clientId,
      issuer: o.claims?.issuerName,
      binding: o.binding?.kind,
      key_thumbprint: o.binding?.thumbprint,
      signature_keyid: o.signatureKeyid,
      token_hash: (o.claims?.tokenHash ?? (o.token === undefined ? undefined : sha256Hex(o.token)))?.slice(0, 16),
      remote: req.socket.remoteAddress,
      detail: o.error?.message ?? cut,
    };
    if (o.error?.code === 'GW_INTERNAL') this.writeLine('error', line, 'request failed');
    // A dependency failed (upstream, JWKS, introspection, replay store): what level-based alerting watches.
    else if (decision === 'error') this.writeLine('warn', line, decision);
    else if (cut !== undefined) this.writeLine('warn', line, 'client stopped reading the response; connection cut');
    else if (o.binding?.kind === 'none' && o.error === undefined) this.writeLine('warn', line, 'unbound token accepted (binding: none)');
    else this.writeLine('info', line, decision);
  }
}
