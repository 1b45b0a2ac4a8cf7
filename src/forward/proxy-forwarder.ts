// The Forwarder over http-proxy-3, with keep-alive agents. Bodies are framed explicitly: the library's
// deleteLength pass (which turns a chunked DELETE into `content-length: 0` and lets the body through
// unframed) and its appending x-forwarded pass are not used, and the response head is written here
// (selfHandleResponse) instead of by its per-header passes.
import { Agent as HttpAgent, type AgentOptions as HttpAgentOptions, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';
import { deleteLength } from 'http-proxy-3/dist/lib/http-proxy/passes/web-incoming.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ResponseRules, Route, UpstreamTarget } from '../types.js';
import { BodyBuffer, BufferBudget } from './body.js';
import { connectionListed, HOP_BY_HOP } from './headers.js';

/**
 * Response headers the gateway owns on a forwarded response, as flat lowercase name/value pairs
 * (`['x-fapi-interaction-id', id, ...]`): they replace the upstream's (HDR-1, DPOP-27, HDR-14).
 */
export type GatewayResponseHeaders = readonly string[];

export interface Forwarder {
  /**
   * Hands the request to the upstream and returns. `fail` is called if forwarding fails: before
   * anything was sent (the caller answers with the error) or mid-body (the caller cuts the connection
   * and logs why). No promise and no listener of our own on the request: this is the hot path.
   * `extra`: what only signed messages need (SIG-6, SIG-8).
   */
  forward(req: IncomingMessage, res: ServerResponse, route: Route, own: GatewayResponseHeaders, fail: (e: GatewayError) => void, extra?: ForwardExtras): void;
  /** Stops the forwarding of `req`, if any (its body turned out malformed): the upstream must not run it. */
  abort(req: IncomingMessage): void;
  /** Draining: responses not yet started close their connection (`Connection: close`). */
  drain(): void;
  close(): Promise<void>;
}

/** For the rare request whose body or response must be whole before it moves on (signed messages). */
export interface ForwardExtras {
  /** The request body, already read (SIG-6): sent instead of the stream. */
  readonly body?: Buffer;
  /** SIG-8: the response is read whole, then sent with these headers added. */
  readonly signResponse?: ResponseSigning;
}

export interface ResponseSigning {
  /** A larger response body is refused (502): it would have to be buffered. */
  readonly maxBodyBytes: number;
  /** The headers that sign a response (Content-Digest, Signature-Input, Signature); `body` undefined: none. */
  headers(status: number, body: Buffer | undefined): readonly string[];
}

export interface ForwarderOptions {
  readonly maxSockets?: number;
  readonly ca?: readonly string[];
  /** Called when a request is sent once more after a reset on a reused connection (for a metric). */
  readonly onResend?: (route: Route) => void;
  /** What signed responses may hold at once, shared with signed requests (http_signatures.max_buffered_bytes). */
  readonly buffers?: BufferBudget;
}

// Upstream response headers never passed on: hop-by-hop (Node re-frames the body, so transfer-encoding
// too) and the ones only the gateway may set; `date` too (HDR-6: within 5 min of real time, whatever the
// legacy upstream's clock says: Node writes the gateway's own).
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'proxy-authenticate', 'transfer-encoding', 'x-fapi-interaction-id', 'dpop-nonce', 'date']);
// The request's failure callback, the gateway's response headers and the upstream request, for the
// listeners that are shared by all requests (proxyRes, the agents' addRequest).
const kFail = Symbol('fapi.forwardFail');
const kOwn = Symbol('fapi.gatewayResponseHeaders');
const kUpstreamReq = Symbol('fapi.upstreamRequest');
const kResent = Symbol('fapi.resent');
const kTimeoutMs = Symbol('fapi.upstreamTimeoutMs');
const kTimedOut = Symbol('fapi.upstreamTimedOut');
// timeout_ms from forward() to the upstream's response head (queued for a pooled connection included).
const kHeadDeadline = Symbol('fapi.headDeadline');
const kConnectMs = Symbol('fapi.connectTimeoutMs');
// The body already read, for the rare request whose body had to be checked before forwarding (SIG-6),
// and the signer of its response (SIG-8).
const kBody = Symbol('fapi.body');
const kSign = Symbol('fapi.signResponse');
// Set by abort() only (a refused request; rare, so the extra property costs the hot path nothing).
const kRefused = Symbol('fapi.refused');
type Forwarding = IncomingMessage & {
  [kFail]?: (e: GatewayError) => void;
  [kOwn]?: GatewayResponseHeaders | RuledHeaders;
  [kUpstreamReq]?: ClientRequest;
  [kResent]?: true;
  [kTimeoutMs]?: number;
  [kTimedOut]?: true;
  [kHeadDeadline]?: NodeJS.Timeout;
  [kConnectMs]?: number;
  [kRefused]?: true;
  [kBody]?: Buffer;
  [kSign]?: ResponseSigning;
};
// The client request of an upstream request, for the shared upgrade listener below.
const kClientReq = Symbol('fapi.clientReq');
type UpstreamRequest = ClientRequest & { [kClientReq]?: Forwarding };

/**
 * The gateway never asks for an upgrade (it refuses them), so a 101 is a broken upstream. Without a
 * listener Node drops the socket and reports nothing, and the client would wait forever.
 */
function onUnsolicitedUpgrade(this: UpstreamRequest, _res: IncomingMessage, socket: Socket): void {
  socket.destroy();
  this[kClientReq]?.[kFail]?.(new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'upstream answered 101 Switching Protocols to a request without Upgrade'));
}
/**
 * `timeout_ms` without a byte from the upstream: marked, so the reset that destroying the request
 * causes is answered 504 and never taken for a stale pooled connection (which would send it again).
 */
function onUpstreamTimeout(this: UpstreamRequest): void {
  // The client reads slowly and backpressure paused the upstream response: not the upstream's stall.
  // Armed again (the listener was a once) when the client has drained; send_timeout_ms bounds the wait.
  const waiting = backpressuredClient((this as UpstreamRequest & { res?: UpstreamResponse }).res);
  const ms = this[kClientReq]?.[kTimeoutMs];
  if (waiting !== undefined && ms !== undefined) {
    waiting.once('drain', () => void (this.destroyed || this.setTimeout(ms, onUpstreamTimeout)));
    return;
  }
  // The client paused its upload: not the upstream's silence (limits.request_timeout_ms bounds the upload).
  if (!this.writableFinished && (this as UpstreamRequest & { res?: UpstreamResponse }).res == null && ms !== undefined) {
    this.setTimeout(ms, onUpstreamTimeout);
    return;
  }
  const client = this[kClientReq];
  if (client !== undefined) client[kTimedOut] = true;
  this.destroy();
}
/**
 * timeout_ms passed since forward() without the upstream's response head: a head that trickles in byte
 * by byte, or a request still queued behind a full pool, never resets this one (the idle timeout above
 * restarts with every byte and starts only with a connection). Answered 504 now; never sent again.
 * Connecting (connect_timeout_ms's) and the client's upload (request_timeout_ms's) are not the
 * upstream's time: after either, the head gets timeout_ms again.
 */
function onHeadDeadline(req: Forwarding): void {
  req[kHeadDeadline] = undefined;
  const upstream = req[kUpstreamReq] as (ClientRequest & { res?: IncomingMessage }) | undefined;
  if (upstream?.res != null) return;
  const socket = upstream?.socket;
  if (socket != null && (socket.connecting || handshaking.has(socket))) {
    armHeadDeadline(req);
    return;
  }
  if (socket != null && upstream !== undefined && !upstream.writableFinished && !upstream.destroyed) {
    upstream.once('finish', () => {
      if (req[kUpstreamReq] === upstream && upstream.res == null && req[kHeadDeadline] === undefined) armHeadDeadline(req);
    });
    return;
  }
  req[kTimedOut] = true;
  req[kResent] = true;
  // The library's error callback that destroying it causes (later, for a queued request) answers nothing.
  req[kRefused] = true;
  if (req.socket?.destroyed !== true) req[kFail]?.(new GatewayError('GW_UPSTREAM_TIMEOUT', 'no upstream response head within timeout_ms'));
  if (upstream !== undefined && !upstream.destroyed) upstream.destroy();
}
const armHeadDeadline = (req: Forwarding): void => {
  req[kHeadDeadline] = setTimeout(onHeadDeadline, req[kTimeoutMs], req);
};
const clearHeadDeadline = (req: Forwarding): void => {
  const t = req[kHeadDeadline];
  if (t !== undefined) {
    clearTimeout(t);
    req[kHeadDeadline] = undefined;
  }
};

/**
 * connect_timeout_ms until a new TLS connection's handshake is done: the library's timer stops at the
 * TCP connect, and an upstream that never finishes the handshake would be a 504 after timeout_ms.
 */
function guardHandshake(socket: Socket, ms: number): void {
  const timer = setTimeout(() => {
    const e = new Error('ECONNECT_TIMEOUT') as Error & { code?: string };
    e.code = 'ECONNECT_TIMEOUT';
    socket.destroy(e);
  }, ms);
  const clear = (): void => clearTimeout(timer);
  socket.once('secureConnect', clear);
  socket.once('close', clear);
}
/**
 * The upstream request ended without an answer the library reports (the client left: http-proxy-3
 * destroys it without calling back): its deadline would hold the request for timeout_ms.
 */
function onUpstreamRequestClose(this: UpstreamRequest): void {
  const client = this[kClientReq];
  // A resend replaced it: the deadline is the new one's.
  if (client !== undefined && client[kUpstreamReq] === this) clearHeadDeadline(client);
}

/** TLS connections the agent created whose handshake is not done yet. */
const handshaking = new WeakSet<Socket>();
/** The first request a new TLS connection serves bounds its handshake with its route's connect_timeout_ms. */
const guarded = new WeakSet<Socket>();
function onUpstreamSocket(this: UpstreamRequest, socket: Socket): void {
  if (!handshaking.has(socket) || guarded.has(socket)) return;
  guarded.add(socket);
  const ms = this[kClientReq]?.[kConnectMs];
  if (ms !== undefined) guardHandshake(socket, ms);
}

// Safe to send again (RFC 9110 §9.2.2) when they carry no body (a body was streamed to the first attempt).
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * A pooled connection the upstream closed just as the request went out (it announced no keep-alive
 * timeout, or closed early): nothing was answered, and an idempotent request without a body may be sent
 * once more, on a new connection, as proxies do.
 */
function mayResend(req: Forwarding, err: Error & { code?: string }): boolean {
  return (
    err.code === 'ECONNRESET' &&
    req[kTimedOut] === undefined &&
    req[kUpstreamReq]?.reusedSocket === true &&
    req[kResent] === undefined &&
    IDEMPOTENT.has(req.method ?? '') &&
    !hasBody(req) &&
    req.readableEnded
  );
}
// The client response of an upstream response, for the one shared close listener below.
const kClientRes = Symbol('fapi.clientRes');
type UpstreamResponse = IncomingMessage & { [kClientRes]?: ServerResponse };

// An upstream sends the same few field names on every response: lowercasing each anew was a new
// string per field. Bounded, so a hostile upstream cannot grow it.
const LOWER_NAMES = new Map<string, string>();
const LOWER_NAMES_MAX = 512;
function lowerName(name: string): string {
  let lower = LOWER_NAMES.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_NAMES.size < LOWER_NAMES_MAX) LOWER_NAMES.set(name, lower);
  }
  return lower;
}

function owns(own: GatewayResponseHeaders, name: string): boolean {
  for (let i = 0; i < own.length; i += 2) if (own[i] === name) return true;
  return false;
}

/** HDR-7: `application/json` or a `+json` type (RFC 6839), parameters ignored. */
function isJsonMediaType(value: string): boolean {
  const semi = value.indexOf(';');
  const t = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'));
}

/**
 * The client response's headers as one flat array: the upstream's (lowercased, repeated fields kept as
 * sent) minus NOT_FORWARDED, the names its Connection header lists and the gateway's own; then the
 * gateway's. A single writeHead with an array is Node's fast path. With `rules` (the route's):
 * - cors (HDR-15): the gateway alone speaks CORS; the upstream's access-control-* are dropped (an upstream
 *   `Access-Control-Allow-Credentials: true` must not meet an origin the gateway allowed), and the answer
 *   varies by Origin;
 * - json (HDR-7): a 2xx with a body gets exactly one Content-Type, the upstream's first JSON one or else
 *   `application/json` (a missing or wrong label from a legacy API); partial content keeps its own.
 */
export function responseHeaders(raw: readonly string[], own: GatewayResponseHeaders, rules?: ResponseRules, status = 200): string[] {
  let out: string[] = [];
  let listed: string[] | undefined;
  const cors = rules?.cors === true;
  const json = rules?.json === true && status >= 200 && status < 300 && status !== 204 && status !== 205 && status !== 206;
  // json: the upstream's Content-Type values, decided once the whole head is read.
  let types: string[] | undefined;
  let bodiless = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerName(raw[i] as string);
    const value = raw[i + 1] as string;
    if (name === 'transfer-encoding') {
      // Node decodes only chunked and the client gets the body re-chunked: a coding left on it (gzip)
      // would reach the client undeclared. No client asked for one (we send no TE): refuse (HDR-12).
      if (!/^\s*chunked\s*$/i.test(value)) throw new Error(`transfer coding other than chunked: ${JSON.stringify(value.slice(0, 64))}`);
    } else if (name === 'connection') {
      // Usually just `keep-alive`, already dropped: only other names cost a second pass.
      for (const token of connectionListed(value)) if (!NOT_FORWARDED.has(token)) (listed ??= []).push(token);
    } else if (!NOT_FORWARDED.has(name) && !owns(own, name) && !(cors && name.startsWith('access-control-'))) {
      if (json && name === 'content-type') (types ??= []).push(value);
      else {
        if (json && name === 'content-length' && /^\s*0+\s*$/.test(value)) bodiless = true;
        out.push(name, value);
      }
    }
  }
  if (listed !== undefined) {
    const names = listed;
    const kept: string[] = [];
    for (let i = 0; i < out.length; i += 2) if (!names.includes(out[i] as string)) kept.push(out[i] as string, out[i + 1] as string);
    out = kept;
    // Hop-by-hop (HDR-12): dropped as it would be without the rule.
    if (names.includes('content-type')) types = undefined;
  }
  for (const v of own) out.push(v);
  if (json) {
    // No body (Content-Length: 0): nothing to label; what the upstream sent passes as sent.
    if (bodiless) for (const t of types ?? []) out.push('content-type', t);
    else out.push('content-type', types?.find(isJsonMediaType) ?? 'application/json');
  }
  if (cors) out.push('vary', 'Origin');
  return out;
}

/** The gateway's headers for a request whose route has response rules (see responseHeaders). */
class RuledHeaders {
  constructor(
    readonly own: GatewayResponseHeaders,
    readonly rules: ResponseRules,
  ) {}
}

/** RFC 9110 §8.6: no Content-Length on a 204, whatever a broken upstream sent (a client would wait for it). */
function withoutContentLength(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] !== 'content-length') out.push(headers[i] as string, headers[i + 1] as string);
  return out;
}

// Replaced on a signed response: the gateway's are over the bytes it sends (SIG-8).
const SIGNING_FIELDS: ReadonlySet<string> = new Set(['content-digest', 'signature', 'signature-input']);

/**
 * SIG-8: the response is read whole (its Content-Digest comes before it), then sent with the
 * signature. Without content (HEAD, 204, 304) nothing is digested and the upstream's Content-Length
 * stays (a HEAD's describes the GET's body).
 */
function signedResponse(proxyRes: UpstreamResponse, req: Forwarding, res: ServerResponse, sign: ResponseSigning, status: number, headers: string[], budget: BufferBudget): void {
  const bodyless = req.method === 'HEAD' || status === 204 || status === 304;
  // The failure is answered here (a 502, nothing was sent yet): detached first, so the upstream
  // response's close does not cut the connection that answer keeps open (onUpstreamClose).
  const refuse = (e: GatewayError): void => {
    proxyRes[kClientRes] = undefined;
    req[kFail]?.(e);
    proxyRes.destroy();
  };
  const tooLarge = (detail: string): void =>
    refuse(new GatewayError('GW_UPSTREAM_UNAVAILABLE', `upstream response body ${detail} http_signatures.response_signing.max_body_bytes ${sign.maxBodyBytes} (a signed response is buffered)`));
  const busy = (): void => refuse(new GatewayError('GW_BUFFERS_FULL', 'signed response: http_signatures.max_buffered_bytes is held by other bodies', { retryAfterS: 1 }));
  const declared = bodyless ? undefined : Number(proxyRes.headers['content-length']);
  if (declared !== undefined && declared > sign.maxBodyBytes) return tooLarge(`of ${declared} bytes (Content-Length) is over`);
  let opened: BodyBuffer | undefined;
  try {
    opened = BodyBuffer.open(sign.maxBodyBytes, bodyless ? 0 : Number.isSafeInteger(declared) ? declared : undefined, budget);
  } catch (err) {
    return refuse(new GatewayError('GW_UPSTREAM_UNAVAILABLE', `signed response buffer: ${(err as Error).message}`, { cause: err }));
  }
  if (opened === undefined) return busy();
  const buffer = opened;
  // Given back once the response is sent, or refused, or its client gone.
  res.once('close', () => buffer.release());
  let over = false;
  const collect = (chunk: Buffer): void => {
    let added: ReturnType<BodyBuffer['add']>;
    try {
      added = buffer.add(chunk);
    } catch {
      added = 'too-large'; // no memory for it: refused like one over the limit
    }
    if (added === 'ok') return;
    over = true;
    proxyRes.off('data', collect);
    buffer.release();
    if (added === 'no-budget') busy();
    else tooLarge('over');
  };
  proxyRes.on('data', collect);
  proxyRes.once('end', () => {
    if (over) return;
    const body = bodyless ? undefined : buffer.body();
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      if (SIGNING_FIELDS.has(name) || (name === 'content-length' && !bodyless)) continue;
      out.push(name, headers[i + 1] as string);
    }
    try {
      out.push(...sign.headers(status, body));
      if (body !== undefined) out.push('content-length', String(body.length));
      res.writeHead(status, proxyRes.statusMessage, out);
    } catch (err) {
      req[kFail]?.(new GatewayError('GW_UPSTREAM_UNAVAILABLE', `signed response head refused: ${(err as Error).message}`, { cause: err }));
      return;
    }
    res.end(body);
  });
}

/**
 * The upstream dying mid-body must not leave the client waiting on a response that will never
 * complete: cut the client connection, and let the log say why. One function for every response.
 */
function onUpstreamClose(this: UpstreamResponse): void {
  const res = this[kClientRes];
  if (res === undefined || this.complete || res.writableFinished) return;
  const client = res.req as Forwarding;
  // Our own timeout (a Content-Length body that stalled) destroys the upstream request: say so.
  const error =
    client[kTimedOut] === true
      ? new GatewayError('GW_UPSTREAM_TIMEOUT', 'upstream response body stalled past timeout_ms')
      : new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'upstream response aborted mid-body');
  // A signed response still being read: nothing was sent, the 502/504 (written by kFail) is the answer.
  const nothingSent = !res.headersSent;
  client[kFail]?.(error);
  if (nothingSent) return;
  res.destroy();
}

/** A body the upstream stopped sending: http-proxy-3's timeout no longer covers a close-delimited one. */
function onStalledBody(this: UpstreamResponse): void {
  const waiting = backpressuredClient(this);
  const ms = (waiting?.req as Forwarding | undefined)?.[kTimeoutMs];
  if (waiting !== undefined && ms !== undefined) {
    waiting.once('drain', () => void (this.destroyed || this.setTimeout(ms)));
    return;
  }
  const res = this[kClientRes];
  (res?.req as Forwarding | undefined)?.[kFail]?.(new GatewayError('GW_UPSTREAM_TIMEOUT', 'upstream response body stalled'));
  this.destroy();
}

/** The client response, if it has more buffered than it takes (a slow reader): the upstream waits on it. */
function backpressuredClient(upstreamRes: UpstreamResponse | undefined): ServerResponse | undefined {
  const res = upstreamRes?.[kClientRes];
  return res?.writableNeedDrain === true ? res : undefined;
}
// Under Node's 5 s (its global agent's and its servers' default) and the unannounced idle timeouts of
// common upstreams (Tomcat 20 s, Jetty 30 s, load balancers 60 s); a busy pool never idles this long.
const UPSTREAM_IDLE_MS = 4_000;

/**
 * The gateway's upstream agents. Node also gives a new connection the agent's `timeout` while it
 * connects, which would cut connect_timeout_ms short at 4 s: the timeout is cleared on creation (the
 * library's connectTimeout governs connecting, the route's timeout_ms the request, and the agent sets
 * the idle one when the connection returns to the pool). And each upstream request is linked to its
 * client request.
 */
function gatewayAgent<A extends HttpAgent>(agent: A, tls = false): A {
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback) as Socket | null | undefined;
    socket?.setTimeout(0);
    if (tls && socket != null) {
      handshaking.add(socket);
      socket.once('secureConnect', () => handshaking.delete(socket));
    }
    return socket as ReturnType<typeof create>;
  };
  // Every upstream request passes here, synchronously inside proxy.web(): link it to the client request
  // being sent. (The library's 'proxyReq' event is skipped for requests with an Expect header.)
  const pooled = agent as A & { addRequest(req: ClientRequest, options: unknown): void };
  const add = pooled.addRequest.bind(agent);
  pooled.addRequest = (upstreamReq: ClientRequest, options: unknown) => {
    // TLS-11: the upstream's certificate is checked against the host in upstream.url. Node would take the
    // name (and the pool) from the Host field, which is the client's under preserve_host.
    if (tls) {
      const o = options as { hostname?: string; host?: string; servername?: string };
      const host = o.hostname ?? o.host ?? '';
      o.servername = isIP(host) === 0 ? host : '';
    }
    const client = sending;
    if (client !== undefined) {
      sending = undefined;
      client[kUpstreamReq] = upstreamReq;
      (upstreamReq as UpstreamRequest)[kClientReq] = client;
      upstreamReq.on('upgrade', onUnsolicitedUpgrade);
      upstreamReq.once('close', onUpstreamRequestClose);
      if (tls) upstreamReq.once('socket', onUpstreamSocket);
      // The route's timeout_ms, set here rather than as the library's proxyTimeout, whose destroy()
      // shows only as a reset (see onUpstreamTimeout).
      const ms = client[kTimeoutMs];
      if (ms !== undefined) upstreamReq.setTimeout(ms, onUpstreamTimeout);
    }
    add(upstreamReq, options);
  };
  return agent;
}
/** The client request whose upstream request is being created (set around proxy.web()). */
let sending: Forwarding | undefined;

export class ProxyForwarder implements Forwarder {
  private readonly proxy: ProxyServer;
  private draining = false;
  private readonly buffers: BufferBudget;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  /** One agent per upstream CA (`ca_file`): a pooled TLS connection is only reused with the same trust. */
  private readonly httpsAgentsByCa = new Map<string, HttpsAgent>();
  private readonly agentOpts: HttpAgentOptions;
  private readonly options = new WeakMap<UpstreamTarget, ServerOptions>();
  private readonly onResend: ((route: Route) => void) | undefined;

  constructor(opts: ForwarderOptions = {}) {
    // `timeout` retires idle pooled connections, and makes Node's agent honour an upstream's
    // `Keep-Alive: timeout=N` (it then retires them a second early): without it an idle socket stays
    // until the upstream closes it, and a request sent as it does fails with ECONNRESET (502).
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 64, scheduling: 'lifo' as const, timeout: UPSTREAM_IDLE_MS };
    this.onResend = opts.onResend;
    this.buffers = opts.buffers ?? new BufferBudget(Number.MAX_SAFE_INTEGER);
    this.httpAgent = gatewayAgent(new HttpAgent(agentOpts));
    this.agentOpts = agentOpts;
    this.httpsAgent = gatewayAgent(new HttpsAgent({ ...agentOpts, minVersion: 'TLSv1.2', ca: opts.ca ? [...opts.ca] : undefined }), true);
    this.proxy = new ProxyServer({ xfwd: false, secure: true });
    const passes = (this.proxy as unknown as { webPasses: unknown[] }).webPasses;
    const i = passes.indexOf(deleteLength);
    if (i === -1) throw new Error('http-proxy-3 changed: deleteLength pass not found');
    passes.splice(i, 1);
    this.proxy.on('proxyRes', (proxyRes: UpstreamResponse, req: Forwarding, res: ServerResponse) => {
      clearHeadDeadline(req);
      // Never sent again now: an idle keep-alive connection keeps its last request reachable.
      req[kBody] = undefined;
      proxyRes[kClientRes] = res;
      proxyRes.on('close', onUpstreamClose);
      // A response that ends the connection (close-delimited body, or Connection: close): guard its body.
      if (req[kUpstreamReq]?.shouldKeepAlive === false && req[kTimeoutMs] !== undefined) proxyRes.setTimeout(req[kTimeoutMs], onStalledBody);
      // A HEAD, 204 or 304 answer ends with its head, and Node pools the connection at once: a legacy
      // upstream that sends a body anyway, in a later write, would have it read as the next request's
      // answer, another client's. Such a connection is never used again.
      if (req.method === 'HEAD' || proxyRes.statusCode === 204 || proxyRes.statusCode === 304) {
        const upstreamReq = req[kUpstreamReq];
        if (upstreamReq !== undefined) upstreamReq.shouldKeepAlive = false;
      }
      // Node writes keep-alive or close itself (HTTP/1.0, a client's close), but not for a server that
      // stopped accepting: a response started while draining says close, or the client would send more.
      // Nor for an upstream that answered before the whole body arrived (a 413): the rest of it would
      // never be read, and the client's next request never answered.
      if (this.draining || !req.complete) res.shouldKeepAlive = false;
      try {
        const status = proxyRes.statusCode ?? 502;
        const own = req[kOwn] ?? [];
        const headers = own instanceof RuledHeaders ? responseHeaders(proxyRes.rawHeaders, own.own, own.rules, status) : responseHeaders(proxyRes.rawHeaders, own);
        const sign = req[kSign];
        if (sign !== undefined) return signedResponse(proxyRes, req, res, sign, status, status === 204 ? withoutContentLength(headers) : headers, this.buffers);
        res.writeHead(status, proxyRes.statusMessage, status === 204 ? withoutContentLength(headers) : headers);
      } catch (err) {
        // A header Node will not write: refuse the response rather than send part of it.
        proxyRes.destroy();
        req[kFail]?.(new GatewayError('GW_UPSTREAM_UNAVAILABLE', `upstream response head refused: ${(err as Error).message}`, { cause: err }));
        return;
      }
      proxyRes.pipe(res);
    });
  }

  drain(): void {
    this.draining = true;
  }

  abort(req: IncomingMessage): void {
    const f = req as Forwarding;
    // Never sent again: the request is refused, not failed.
    f[kResent] = true;
    f[kRefused] = true;
    clearHeadDeadline(f);
    const upstream = f[kUpstreamReq];
    if (upstream !== undefined && !upstream.destroyed) upstream.destroy();
  }

  forward(req: IncomingMessage, res: ServerResponse, route: Route, own: GatewayResponseHeaders, fail: (e: GatewayError) => void, extra?: ForwardExtras): void {
    (req as Forwarding)[kFail] = fail;
    if (extra !== undefined) {
      (req as Forwarding)[kBody] = extra.body;
      (req as Forwarding)[kSign] = extra.signResponse;
    }
    (req as Forwarding)[kOwn] = route.responseRules === undefined ? own : new RuledHeaders(own, route.responseRules);
    (req as Forwarding)[kTimeoutMs] = route.upstream.timeoutMs;
    (req as Forwarding)[kConnectMs] = route.upstream.connectTimeoutMs;
    armHeadDeadline(req as Forwarding);
    this.send(req as Forwarding, res, route, fail);
  }

  private send(req: Forwarding, res: ServerResponse, route: Route, fail: (e: GatewayError) => void): void {
    sending = req;
    try {
      this.web(req, res, route, fail);
    } finally {
      sending = undefined;
    }
  }

  private web(req: Forwarding, res: ServerResponse, route: Route, fail: (e: GatewayError) => void): void {
    const upstream = route.upstream;
    const options = req[kBody] === undefined ? this.webOptions(upstream) : { ...this.webOptions(upstream), buffer: Readable.from([req[kBody]]) };
    this.proxy.web(req, res, options, (err: Error & { code?: string }) => {
      if (!mayResend(req, err)) {
        clearHeadDeadline(req);
        req[kBody] = undefined;
      }
      // Our own abort: the gateway's refusal (a 400 or 413 perhaps still being written) is the answer.
      if (req[kRefused] === true) return;
      if (res.headersSent) {
        // Bytes after a complete response (a body on a 204, 304 or HEAD answer): Node's parser fails on
        // them, but the client has its whole answer; only the upstream connection is dropped.
        if ((req[kUpstreamReq] as (ClientRequest & { res?: IncomingMessage }) | undefined)?.res?.complete === true) return;
        // Mid-response failure: cut the client connection rather than pass a truncated body as complete.
        res.destroy();
        return;
      }
      if (mayResend(req, err)) {
        req[kResent] = true;
        req[kUpstreamReq] = undefined;
        this.onResend?.(route);
        this.send(req, res, route, fail);
        return;
      }
      const timeout = err.code === 'ETIMEDOUT' || req[kTimedOut] === true;
      fail(
        new GatewayError(timeout ? 'GW_UPSTREAM_TIMEOUT' : 'GW_UPSTREAM_UNAVAILABLE', `upstream ${upstream.url.host}: ${err.code ?? err.message}`, {
          cause: err,
        }),
      );
    });
  }

  /** The library's options for one upstream, built once (it copies them per request). */
  private webOptions(upstream: UpstreamTarget): ServerOptions {
    let o = this.options.get(upstream);
    if (o === undefined) {
      const target = upstream.url;
      o = Object.freeze({
        target,
        agent: target.protocol === 'https:' ? this.httpsAgentFor(upstream.ca) : this.httpAgent,
        changeOrigin: !upstream.preserveHost,
        // req.url is already ours (normalised path, query as sent): without this the library re-parses it
        // with WHATWG URL, which percent-encodes `"`, `'`, `<` and `>` in the query.
        toProxy: true,
        // Joining onto a bare `/` changes nothing and would cost a URL parse of the target per request.
        prependPath: target.pathname !== '/' || target.search !== '',
        selfHandleResponse: true,
        connectTimeout: upstream.connectTimeoutMs,
      });
      this.options.set(upstream, o);
    }
    return o;
  }

  private httpsAgentFor(ca: string | undefined): HttpsAgent {
    if (ca === undefined) return this.httpsAgent;
    let agent = this.httpsAgentsByCa.get(ca);
    if (agent === undefined) {
      agent = gatewayAgent(new HttpsAgent({ ...this.agentOpts, minVersion: 'TLSv1.2', ca }), true);
      this.httpsAgentsByCa.set(ca, agent);
    }
    return agent;
  }

  /**
   * After a reload: forget the agents of upstream CAs no route uses any more. Not destroyed: requests
   * still in flight on them finish, and their idle connections close after the idle timeout.
   */
  retainUpstreamCas(inUse: ReadonlySet<string>): void {
    for (const ca of this.httpsAgentsByCa.keys()) if (!inUse.has(ca)) this.httpsAgentsByCa.delete(ca);
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const a of this.httpsAgentsByCa.values()) a.destroy();
    this.proxy.close();
  }
}
