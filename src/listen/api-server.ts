// The API listener: HTTPS only (TLS-1), timeouts against slow clients, header limits (HDR-16), and
// contract-shaped answers for requests Node's parser refuses before they reach the pipeline.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { LoadedConfig } from '../config/load.js';
import { CATALOG, type ErrorCode } from '../errors/catalog.js';
import { clientTrust } from './client-chain.js';
import { kHandshakeTrust } from './request-facts.js';
import { clientCertificatePolicy, tlsOptions } from './tls-options.js';

export interface ClientErrorInfo {
  readonly interactionId: string;
  readonly status: number;
  readonly reason: ErrorCode;
  readonly detail: string;
  readonly remote: string | undefined;
}

/** A TLS handshake the listener refused or that failed: one log line and a count each. */
export interface TlsRefusal {
  readonly reason: TlsRefusalReason;
  readonly detail: string;
  readonly remote: string | undefined;
}
export type TlsRefusalReason = 'TLS_CLIENT_CERT_MISSING' | 'TLS_CLIENT_CERT_UNTRUSTED' | 'TLS_PROTOCOL' | 'TLS_HANDSHAKE_TIMEOUT' | 'TLS_HANDSHAKE_FAILED';

/**
 * OpenSSL's codes (Node's `ERR_SSL_*`) grouped into the reasons operators act on; a bounded label set.
 * Negotiation first: `NO_SUITABLE_SIGNATURE_ALGORITHM` is about the client's offer, not a certificate.
 */
function tlsReasonFor(code: string | undefined): TlsRefusalReason {
  if (code === undefined) return 'TLS_HANDSHAKE_FAILED';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'TLS_HANDSHAKE_TIMEOUT';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'TLS_CLIENT_CERT_MISSING';
  if (/VERSION|PROTOCOL|CIPHER|HTTP_REQUEST|SIGNATURE_ALGORITHM|SIGALG|KEY_SHARE|GROUP|CURVE/.test(code)) return 'TLS_PROTOCOL';
  if (/CERTIFICATE|UNKNOWN_CA|ISSUER|CA_MD|EE_KEY/.test(code)) return 'TLS_CLIENT_CERT_UNTRUSTED';
  return 'TLS_HANDSHAKE_FAILED';
}

/** Marks a request Node routed through 'checkExpectation': the gateway answers it with 417. */
export const UNMET_EXPECTATION = Symbol('fapi.unmetExpectation');
/** Marks a request with `Expect: 100-continue`: the gateway sends the 100 only once it will forward. */
export const EXPECTS_CONTINUE = Symbol('fapi.expectsContinue');
/** Set on a response whose client stopped reading it (send_timeout_ms): what its log line says. */
export const SEND_TIMED_OUT = Symbol('fapi.sendTimedOut');
export type SendTimedOut = ServerResponse & { [SEND_TIMED_OUT]?: string };

/**
 * The gateway's answer when the parser refuses a request body on a connection: if that body belongs
 * to a request it was handed, it records the reason (that request's one log line carries it), stops
 * its forwarding, and returns its interaction id for the answer written here; `answered` when that
 * request's response was already sent. Undefined if the body is no request's it knows.
 */
export type BodyRefused = (
  socket: Duplex,
  code: ErrorCode,
  detail: string,
) => { readonly id: string; readonly answered: boolean; readonly res: ServerResponse; readonly headers?: readonly string[] } | undefined;

const REASON_PHRASES: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** Node's parser refused the request (llhttp's HPE_* codes) or a request timed out. */
function refusedByParser(err: Error & { code?: string }): boolean {
  return err.code?.startsWith('HPE_') === true || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT';
}

function codeFor(err: Error & { code?: string }): ErrorCode {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'GW_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT') return 'GW_REQUEST_TIMEOUT';
  return 'GW_BAD_REQUEST';
}

const kRequiredWithoutCa = Symbol('fapi.clientCertificateRequiredWithoutCa');
const kTrustId = Symbol('fapi.clientTrustId');
const kAcceptTrust = Symbol('fapi.acceptTrust');
const kAcceptRemote = Symbol('fapi.acceptRemote');
type PolicyServer = Server & { rejectUnauthorized: boolean; [kRequiredWithoutCa]?: boolean; [kTrustId]?: string };

/**
 * `tls.client_certificate` for new connections, at start and on reload: Node reads the server's
 * `rejectUnauthorized` per connection, but setSecureContext does not change it (TLS-9: a reload to
 * `optional` must let certificate-less DPoP clients complete the handshake).
 */
export function applyClientCertificatePolicy(server: Server, loaded: LoadedConfig): void {
  const policy = clientCertificatePolicy(loaded);
  const s = server as PolicyServer;
  s.rejectUnauthorized = policy.rejectUnauthorized;
  s[kRequiredWithoutCa] = policy.requiredWithoutCa;
  // Which client CAs new handshakes are verified against (request-facts re-checks older connections).
  s[kTrustId] = clientTrust(loaded).id;
}

/** The `server.limits` Node reads from the server per connection or per check (maxHeaderSize is untyped). */
function serverLimits(loaded: LoadedConfig): { maxHeaderSize: number; requestTimeout: number; headersTimeout: number; keepAliveTimeout: number; timeout: number } {
  const limits = loaded.config.server.limits;
  return {
    maxHeaderSize: limits.max_header_bytes,
    requestTimeout: limits.request_timeout_ms,
    headersTimeout: limits.headers_timeout_ms,
    keepAliveTimeout: limits.keep_alive_timeout_ms,
    // The sockets' inactivity timer, read by onInactive (Node sets it on each new connection).
    timeout: limits.send_timeout_ms,
  };
}

/**
 * A connection quiet for `server.timeout` (send_timeout_ms, or keep_alive_timeout_ms between requests).
 * Node's timer restarts on every write the kernel accepts, however slowly. With bytes still waiting for
 * the client, the kernel took none of them for that long: the client stopped reading (nginx's
 * send_timeout, same granularity). Cut, and its response's log line says so. Without a response, an
 * idle connection: closed, as Node would (send_timeout_ms >= headers_timeout_ms + 1 s: a head still
 * arriving gets its 408 first). Otherwise the gateway waits on the upstream or the request body, which
 * have their own timeouts.
 */
function onInactive(socket: Socket & { _httpMessage?: ServerResponse | null }): void {
  const res = socket._httpMessage;
  if (res == null) return void socket.destroy();
  if (socket.writableLength === 0) return;
  (res as SendTimedOut)[SEND_TIMED_OUT] = `client read none of ${socket.writableLength} pending bytes for send_timeout_ms ${socket.timeout ?? '?'}`;
  socket.destroy();
}

/**
 * On reload: the limits apply to new connections. The handshake timeout is fixed when the server is
 * created (a reload reports it as needing a restart).
 */
export function applyServerLimits(server: Server, loaded: LoadedConfig): void {
  Object.assign(server, serverLimits(loaded));
}

/** Open TLS connections per listener, for retireConnections. */
const liveConnections = new WeakMap<Server, Set<TLSSocket>>();
/** A connection opened under client CAs no longer in force: every response on it closes it. */
const kRetired = Symbol('fapi.retiredConnection');
type Retirable = TLSSocket & { [kRetired]?: true; _httpMessage?: ServerResponse | null };

/**
 * MTLS-4 after a reload of the client CAs: every open connection closes, idle ones now and the others
 * with `Connection: close` on the response in progress (or the next one, when its head is out), so
 * clients reconnect and OpenSSL verifies them against the new CAs with the intermediates they send.
 * Judging a kept connection again per request cannot see those intermediates (Node does not expose what
 * a client sent): a client with an intermediate CA would get 401 until it reconnected.
 */
export function retireConnections(server: Server): void {
  server.closeIdleConnections();
  for (const socket of (liveConnections.get(server) ?? []) as Set<Retirable>) {
    // Marked, so a request still arriving or pipelined behind gets its answer with Connection: close.
    socket[kRetired] = true;
    // Node's own link from a connection to the response it is writing; one whose head is out closes
    // the connection at the next response (the pipelined request then is answered, not lost).
    const res = socket._httpMessage;
    if (res != null && !res.headersSent) res.shouldKeepAlive = false;
  }
}

/** What llhttp takes as an upgrade (then it reads nothing more), although Node says `req.upgrade` false without a listener. */
const upgradeAsked = (req: IncomingMessage): boolean =>
  req.headers.upgrade !== undefined && req.headers.connection !== undefined && /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i.test(req.headers.connection);

export function createApiServer(
  loaded: LoadedConfig,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  onClientError: (info: ClientErrorInfo) => void,
  bodyRefused: BodyRefused,
  onTlsRefused: (info: TlsRefusal) => void,
): Server {
  const server = createServer(
    {
      ...tlsOptions(loaded),
      ...serverLimits(loaded),
      // Check the timeouts above every second, not every 30 s (Node's default).
      connectionsCheckingInterval: 1000,
      // Checked in the pipeline, so a missing Host still gets the error contract (HDR-1).
      requireHostHeader: false,
      rejectNonStandardBodyWrites: true,
    },
    (req, res) => answer(req, res),
  );
  // retireConnections: the answer to a request on a retired connection closes it. So does the answer to
  // an upgrade request (HDR-12, always refused): llhttp parses nothing more on that connection.
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    if ((req.socket as Retirable)[kRetired] === true || upgradeAsked(req)) res.shouldKeepAlive = false;
    handler(req, res);
  };
  const live = new Set<TLSSocket>();
  liveConnections.set(server, live);
  // Counted in the pipeline instead: Node would silently drop fields past its limit.
  server.maxHeadersCount = 0;
  // Not a createServer option: set as on reload. A listener replaces Node's own destroy-on-timeout.
  server.timeout = loaded.config.server.limits.send_timeout_ms;
  server.on('timeout', onInactive);
  // An Expect other than 100-continue: Node's own 417 has no interaction id and no log line.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    (req as IncomingMessage & { [UNMET_EXPECTATION]?: true })[UNMET_EXPECTATION] = true;
    answer(req, res);
  });
  // Node would send the 100 before the pipeline runs: a client with a bad token would upload its whole
  // body to be refused. Refused without a 100, the connection closes (Node: the client may still send
  // the body, which must not be read as the next request).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    (req as IncomingMessage & { [EXPECTS_CONTINUE]?: true })[EXPECTS_CONTINUE] = true;
    answer(req, res);
  });
  applyClientCertificatePolicy(server, loaded);
  // The CAs a handshake is verified against are the server's when the TCP connection was accepted (Node
  // gives the new TLS socket the secure context of that moment), not when the handshake completes.
  server.on('connection', (raw: Socket & { [kAcceptTrust]?: string; [kAcceptRemote]?: string }) => {
    raw[kAcceptTrust] = (server as PolicyServer)[kTrustId];
    // For the log line of a refused handshake: by then the socket may be gone, and its address with it.
    raw[kAcceptRemote] = raw.remoteAddress;
  });
  // Before Node's HTTP listener: a request sent in the same flight as the handshake must not be parsed
  // on a connection refused here.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
    // Unknown (no parent): undefined, which makes request-facts check the chain itself.
    const raw = (socket as TLSSocket & { _parent?: { [kAcceptTrust]?: string } })._parent;
    (socket as TLSSocket & { [kHandshakeTrust]?: string })[kHandshakeTrust] = raw?.[kAcceptTrust];
    // A handshake verified under the client CAs of before a reload that came while it ran: retired too.
    if (raw !== undefined && raw[kAcceptTrust] !== (server as PolicyServer)[kTrustId]) (socket as Retirable)[kRetired] = true;
    // Required without a CA: OpenSSL cannot demand a certificate it will not verify, so enforce it here.
    // Never getPeerCertificate(): Node 24 dereferences a NULL curve name for brainpool keys (SIGSEGV).
    if ((server as PolicyServer)[kRequiredWithoutCa] === true && socket.getPeerX509Certificate() === undefined) {
      onTlsRefused({ reason: 'TLS_CLIENT_CERT_MISSING', detail: 'tls.client_certificate: required, and the client sent none', remote: socket.remoteAddress });
      socket.destroy();
    }
  });
  // Refused handshakes (no or an untrusted certificate, an old protocol, plain HTTP, a timeout): a TPP
  // told "your gateway drops us" must find itself in the log. Not a client that closed or reset
  // before finishing the handshake (TCP health checks, scanners).
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket & { _parent?: { [kAcceptRemote]?: string } }) => {
    const remote = socket._parent?.[kAcceptRemote];
    // A certificate that does not verify: Node itself destroys the socket after the handshake, and what
    // reaches here is the "socket hang up" that follows, with the verification error on the socket.
    const unverified = socket.authorizationError;
    if (unverified != null) return onTlsRefused({ reason: 'TLS_CLIENT_CERT_UNTRUSTED', detail: String(unverified), remote });
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
    onTlsRefused({ reason: tlsReasonFor(err.code), detail: err.code ?? err.message, remote });
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const code = codeFor(err);
    const entry = CATALOG[code];
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    // An error in the body of a request the gateway was handed: that request's own interaction id and
    // log line (HDR-1), not a second, unrelated one.
    const detail = code === 'GW_HEADERS_TOO_LARGE' ? headOverflowDetail(socket, server) : (err.code ?? err.message);
    // A socket error (a client resetting mid-upload) is no refusal: the request's own line says aborted.
    if (!refusedByParser(err)) {
      socket.destroy();
      return;
    }
    const refusal = bodyRefused(socket, code, detail);
    // That request was answered already (refused before its body was read): nothing more to say.
    if (refusal?.answered === true) {
      socket.destroy();
      return;
    }
    let interactionId = refusal?.id;
    if (interactionId === undefined) {
      interactionId = randomUUID();
      onClientError({ interactionId, status: entry.status, reason: code, detail, remote: (socket as TLSSocket).remoteAddress });
    }
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // A response to an earlier, completely received (so possibly executed) request is still pending on
    // this connection: a 400 written now would read as that request's answer. Let it finish, then close;
    // a pipelined request whose body was refused gets its 400 after it.
    if (pending != null && !pending.writableEnded && pending.req.complete) {
      if (refusal === undefined) {
        pending.shouldKeepAlive = false;
        pending.once('close', () => socket.destroy());
        return;
      }
      // The refused request answers in its turn, once every response before it is done (requests in
      // between are served); keep-alive stays on, or Node would end the socket before that turn.
      refusal.res.once('socket', () => endSoon(socket, cannedAnswer(code, interactionId, refusal.headers)));
      return;
    }
    // The upstream already started answering the request whose body is bad: a 400 now would be read as
    // part of that response's body. Cut the connection; the client sees a truncated response.
    if (pending?.headersSent === true && !pending.writableEnded) {
      socket.destroy();
      return;
    }
    endSoon(socket, cannedAnswer(code, interactionId, refusal?.headers));
  });
  // CONNECT (authority-form): never tunnelled. Without a listener Node destroys the socket at once, with
  // no answer, no log line, and cutting a response still being written to an earlier request.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const interactionId = randomUUID();
    onClientError({ interactionId, status: CATALOG.GW_BAD_REQUEST.status, reason: 'GW_BAD_REQUEST', detail: 'CONNECT refused: no tunnels', remote: (socket as TLSSocket).remoteAddress });
    socket.on('error', () => undefined);
    let answered = false;
    const answer = (): void => {
      answered = true;
      endSoon(socket, cannedAnswer('GW_BAD_REQUEST', interactionId));
    };
    // An earlier pipelined request's response is still being written: the 400 follows it.
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending != null && !pending.writableFinished) pending.once('finish', answer).once('close', () => answered || socket.destroy());
    else answer();
  });
  return server;
}

/** How long a refused connection may take to read its answer before it is cut. */
const LINGER_MS = 2000;

/**
 * The last answer on a connection. end() alone leaves the socket open as long as the client keeps its
 * side open, and no server timeout applies to it any more: cut it after a short linger.
 */
function endSoon(socket: Duplex, answer: string): void {
  socket.end(answer);
  const t = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(t));
}

/**
 * HDR-16 "log the size": the limit in force, and the bytes read on the connection (the head is not read
 * to its end, so its own size is unknown; on a first request, this is its size so far).
 */
function headOverflowDetail(socket: Duplex, server: Server): string {
  const limit = (server as Server & { maxHeaderSize?: number }).maxHeaderSize;
  return `HPE_HEADER_OVERFLOW: request head over max_header_bytes ${limit ?? '?'} (${(socket as TLSSocket).bytesRead} bytes read on the connection)`;
}

/** A contract-shaped answer written to the socket directly, for requests the pipeline never sees. */
/** `extra`: name/value pairs of the refused request's route (its CORS headers, HDR-15). */
function cannedAnswer(code: ErrorCode, interactionId: string, extra: readonly string[] = []): string {
  const entry = CATALOG[code];
  const body = JSON.stringify({ error: entry.error, error_description: entry.description });
  let more = '';
  for (let i = 0; i + 1 < extra.length; i += 2) more += `${extra[i] as string}: ${extra[i + 1] as string}\r\n`;
  return (
    `HTTP/1.1 ${entry.status} ${REASON_PHRASES[entry.status] ?? 'Bad Request'}\r\n` +
    `Date: ${new Date().toUTCString()}\r\n` +
    'Content-Type: application/json\r\n' +
    'Cache-Control: no-store\r\n' +
    `x-fapi-interaction-id: ${interactionId}\r\n` +
    more +
    'Connection: close\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}
