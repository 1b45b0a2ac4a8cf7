// The one log line per request, serialised with one JSON.stringify instead of through pino's generic
// pass (per key: an escape scan of the key, serializer and stringifier lookups, a for-in over the
// object). That pass was ~5 % of the instructions of an mTLS request. The line goes to the logger's own
// destination with its level prefix, time and bindings, so it is byte-identical to what pino writes
// (test/unit/observe/request-log.test.ts compares the two). Loggers with hooks, mixins, formatters or
// serializers of their own take pino's path.
import { pino } from 'pino';
import type { Logger } from './logger.js';

/** Undefined members are left out, as pino does. Never a token, proof, key or certificate. */
export interface RequestLine {
  readonly interaction_id: string;
  readonly replaced_interaction_id: string | undefined;
  readonly route: string;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly decision: string;
  readonly reason: string;
  readonly status: number;
  readonly latency_ms: number;
  readonly client_id: string | undefined;
  readonly issuer: string | undefined;
  readonly binding: string | undefined;
  readonly key_thumbprint: string | undefined;
  /** SIG-10: the keyid of the client key that verified the request's signature. */
  readonly signature_keyid: string | undefined;
  readonly token_hash: string | undefined;
  readonly remote: string | undefined;
  readonly detail: string | undefined;
}

export type RequestLevel = 'info' | 'warn' | 'error';
export type RequestLogWriter = (level: RequestLevel, line: RequestLine, msg: string) => void;

// msgPrefixSym is missing from pino's type declarations.
const S = pino.symbols as typeof pino.symbols & { readonly msgPrefixSym: symbol };
// JSON.stringify equals pino's string escaping, except that it also escapes lone surrogates.
const q = JSON.stringify;

// Every member of RequestLine (the message key is checked with them).
const KEYS = [
  'interaction_id', 'replaced_interaction_id', 'route', 'method', 'path', 'decision', 'reason', 'status', 'latency_ms',
  'client_id', 'issuer', 'binding', 'key_thumbprint', 'signature_keyid', 'token_hash', 'remote', 'detail',
] as const satisfies readonly (keyof RequestLine)[];

/**
 * The members as pino writes them: in insertion order, undefined ones left out, a non-finite number as
 * null. One JSON.stringify of the whole object costs less than one per field (~1.7 -> 1.15 µs a line).
 */
function fields(r: RequestLine): string {
  return `,${q(r).slice(1, -1)}`;
}

/** Whether this logger writes lines exactly as the direct path below would. */
function isPlain(logger: Logger): boolean {
  const l = logger as unknown as Record<symbol, unknown>;
  const formatters = l[S.formattersSym] as { log?: unknown } | undefined;
  const hooks = l[S.hooksSym] as { streamWrite?: unknown } | undefined;
  const stream = l[S.streamSym] as ({ write?: unknown } & Record<symbol, unknown>) | undefined;
  const serializers = l[S.serializersSym] as Record<string, unknown> | undefined;
  const stringifiers = l[S.stringifiersSym] as Record<string | symbol, unknown> | undefined;
  const msgKey = l[S.messageKeySym];
  return (
    typeof stream?.write === 'function' &&
    stream[S.needsMetadataGsym] !== true &&
    l[S.mixinSym] == null &&
    formatters?.log === undefined &&
    hooks?.streamWrite === undefined &&
    !l[S.nestedKeySym] &&
    l[S.msgPrefixSym] === undefined &&
    typeof msgKey === 'string' &&
    ![...KEYS, msgKey].some((k) => serializers?.[k] !== undefined || stringifiers?.[k] !== undefined) &&
    stringifiers?.[S.wildcardFirstSym] === undefined &&
    typeof l[S.timeSym] === 'function' &&
    typeof l[S.lsCacheSym] === 'object' &&
    typeof l[S.chindingsSym] === 'string' &&
    typeof l[S.endSym] === 'string'
  );
}

export function requestLogWriter(logger: Logger): RequestLogWriter {
  if (!isPlain(logger)) return (level, line, msg) => logger[level](line, msg);
  const l = logger as unknown as Record<symbol, unknown>;
  const stream = l[S.streamSym] as { write(s: string): unknown };
  const time = l[S.timeSym] as () => string;
  const msgKey = `,${q(l[S.messageKeySym] as string)}:`;
  const levelNum = logger.levels.values;
  return (level, line, msg) => {
    if (!logger.isLevelEnabled(level)) return;
    // Read per line: the level prefix cache and the bindings belong to the logger and may change with it.
    const prefix = (l[S.lsCacheSym] as Record<number, string>)[levelNum[level] as number] as string;
    stream.write(prefix + time.call(logger) + (l[S.chindingsSym] as string) + fields(line) + msgKey + q(msg) + (l[S.endSym] as string));
  };
}
