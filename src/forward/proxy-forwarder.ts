// The Forwarder over http-proxy-3, with keep-alive agents. Bodies are framed explicitly: the library's
// deleteLength pass (which turns a chunked DELETE into `content-length: 0` and lets the body through
// unframed) and its appending x-forwarded pass are not used.
import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ProxyServer } from 'http-proxy-3';
import { deleteLength } from 'http-proxy-3/dist/lib/http-proxy/passes/web-incoming.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Route } from '../types.js';

export interface Forwarder {
  /**
   * Hands the request to the upstream and returns. `fail` is called if forwarding fails: before
   * anything was sent (the caller answers with the error) or mid-body (the caller cuts the connection
   * and logs why). No promise and no listener of our own on the request: this is the hot path.
   */
  forward(req: IncomingMessage, res: ServerResponse, route: Route, fail: (e: GatewayError) => void): void;
  close(): Promise<void>;
}

export interface ForwarderOptions {
  readonly maxSockets?: number;
  readonly ca?: readonly string[];
}

// Response headers the gateway sets before forwarding; they win over the upstream's (HDR-1, DPOP-27).
const GATEWAY_RESPONSE_HEADERS = ['x-fapi-interaction-id', 'dpop-nonce', 'cache-control'];
// Response headers that belong to the upstream hop only.
const HOP_BY_HOP_RESPONSE = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer', 'proxy-authenticate'];
// The request's failure callback, for the one listener that is shared by all requests (proxyRes).
const kFail = Symbol('fapi.forwardFail');
type Forwarding = IncomingMessage & { [kFail]?: (e: GatewayError) => void };
// The client response of an upstream response, for the one shared close listener below.
const kClientRes = Symbol('fapi.clientRes');
type UpstreamResponse = IncomingMessage & { [kClientRes]?: ServerResponse };

/**
 * The upstream dying mid-body must not leave the client waiting on a response that will never
 * complete: cut the client connection, and let the log say why. One function for every response.
 */
function onUpstreamClose(this: UpstreamResponse): void {
  const res = this[kClientRes];
  if (res === undefined || this.complete || res.writableFinished) return;
  (res.req as Forwarding)[kFail]?.(new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'upstream response aborted mid-body'));
  res.destroy();
}
// http-proxy-3's proxyTimeout destroys the upstream request without an error of its own, so the
// failure shows as a reset; one that comes at the deadline is the timeout. Timers can fire a little
// early (libuv's loop time), hence the slack.
const TIMER_SLACK_MS = 50;

export class ProxyForwarder implements Forwarder {
  private readonly proxy: ProxyServer;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;

  constructor(opts: ForwarderOptions = {}) {
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 64, scheduling: 'lifo' as const };
    this.httpAgent = new HttpAgent(agentOpts);
    this.httpsAgent = new HttpsAgent({ ...agentOpts, minVersion: 'TLSv1.2', ca: opts.ca ? [...opts.ca] : undefined });
    this.proxy = new ProxyServer({ xfwd: false, secure: true, prependPath: true });
    const passes = (this.proxy as unknown as { webPasses: unknown[] }).webPasses;
    const i = passes.indexOf(deleteLength);
    if (i === -1) throw new Error('http-proxy-3 changed: deleteLength pass not found');
    passes.splice(i, 1);
    this.proxy.on('proxyRes', (proxyRes: UpstreamResponse, _req: Forwarding, res: ServerResponse) => {
      proxyRes[kClientRes] = res;
      proxyRes.on('close', onUpstreamClose);
      for (const h of HOP_BY_HOP_RESPONSE) delete proxyRes.headers[h];
      delete proxyRes.headers['dpop-nonce'];
      for (const h of GATEWAY_RESPONSE_HEADERS) {
        const v = res.getHeader(h);
        if (typeof v === 'string') proxyRes.headers[h] = v;
      }
      // The library writes `connection: keep-alive` unless told otherwise; while draining it must be close.
      if (!res.shouldKeepAlive) proxyRes.headers.connection = 'close';
    });
  }

  forward(req: IncomingMessage, res: ServerResponse, route: Route, fail: (e: GatewayError) => void): void {
    const target = route.upstream.url;
    const started = performance.now();
    (req as Forwarding)[kFail] = fail;
    this.proxy.web(
      req,
      res,
      {
        target,
        agent: target.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        changeOrigin: !route.upstream.preserveHost,
        // req.url is already ours (normalised path, query as sent): without this the library re-parses it
        // with WHATWG URL, which percent-encodes `"`, `'`, `<` and `>` in the query.
        toProxy: true,
        proxyTimeout: route.upstream.timeoutMs,
        connectTimeout: route.upstream.connectTimeoutMs,
      },
      (err: Error & { code?: string }) => {
        if (res.headersSent) {
          // Mid-response failure: cut the client connection rather than pass a truncated body as complete.
          res.destroy();
          return;
        }
        const timeout = err.code === 'ETIMEDOUT' || performance.now() - started >= route.upstream.timeoutMs - TIMER_SLACK_MS;
        fail(
          new GatewayError(timeout ? 'GW_UPSTREAM_TIMEOUT' : 'GW_UPSTREAM_UNAVAILABLE', `upstream ${target.host}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        );
      },
    );
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.proxy.close();
  }
}
