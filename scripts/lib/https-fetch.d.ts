// Types for https-fetch.js (plain ESM JS, shared by `npm run demo` and the e2e suite).
export interface SentRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: [string, string][];
  readonly body: Buffer | undefined;
}

export interface HttpsFetchOptions {
  /** PEM trusted for the servers' certificates. */
  readonly ca: string;
  /** TLS client certificate and key (PEM) presented on every connection. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** Keyed by URL host (`api.example` or `api.example:443`): where to connect instead (like curl --connect-to). */
  readonly connectTo?: Record<string, { host: string; port: number; servername?: string }> | undefined;
}

export interface HttpsFetch {
  (input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Every request sent so far, oldest first. */
  readonly sent: SentRequest[];
  /** Send a captured request again, byte for byte. */
  replay(captured: SentRequest): Promise<Response>;
}

export function createHttpsFetch(opts: HttpsFetchOptions): HttpsFetch;
