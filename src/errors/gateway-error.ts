import { CATALOG, type CatalogEntry, type ErrorCode } from './catalog.js';

export interface GatewayErrorOptions {
  /** Extra challenge parameters, e.g. `scope` for insufficient_scope. */
  readonly params?: Readonly<Record<string, string>>;
  /** Extra response headers, e.g. `DPoP-Nonce`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Seconds for `Retry-After` on 503. */
  readonly retryAfterS?: number;
  readonly cause?: unknown;
}

/**
 * A refusal. `message` is the private detail for the log; the public text comes from the catalog
 * and never carries request data.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly entry: CatalogEntry;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, detail: string, options: GatewayErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.entry = CATALOG[code];
    this.params = options.params ?? {};
    this.headers = options.headers ?? {};
    this.retryAfterS = options.retryAfterS;
  }

  get status(): number {
    return this.entry.status;
  }

  get publicDescription(): string {
    return this.entry.description;
  }
}

export const isGatewayError = (e: unknown): e is GatewayError => e instanceof GatewayError;
