// HDR-2 / TOK-10: the request log line, written without pino's generic pass, must be the line pino writes.
import { pino, type DestinationStream } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, isoTime } from '../../../src/observe/logger.js';
import { requestLogWriter, type RequestLine } from '../../../src/observe/request-log.js';

function capture(): DestinationStream & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

// createLogger's settings, with a fixed time so two lines can be compared byte for byte.
function gatewayLike(dest: DestinationStream, extra: pino.LoggerOptions = {}): pino.Logger {
  return pino(
    {
      level: 'info',
      base: { service: 'fapi-gateway', pid: 4242 },
      timestamp: () => ',"time":"2026-11-24T00:00:00.000Z"',
      formatters: { level: (label) => ({ level: label }) },
      ...extra,
    },
    dest,
  );
}

const FULL: RequestLine = {
  interaction_id: '6f1c1a52-8d0a-4c1e-9a0b-2f7d3c9e4b11',
  replaced_interaction_id: 'not-a-uuid',
  route: 'accounts',
  method: 'GET',
  path: '/accounts/123',
  decision: 'allow',
  reason: 'OK',
  status: 200,
  latency_ms: 1.234,
  client_id: 'client-1',
  issuer: 'main',
  binding: 'mtls',
  key_thumbprint: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  signature_keyid: 'tpp-1-2026',
  token_hash: '0123456789abcdef',
  remote: '127.0.0.1',
  detail: undefined,
};

const LINES: readonly [string, RequestLine][] = [
  ['every member set', { ...FULL, detail: 'x' }],
  ['optional members left out', { ...FULL, replaced_interaction_id: undefined, method: undefined, path: undefined, client_id: undefined, issuer: undefined, binding: undefined, key_thumbprint: undefined, signature_keyid: undefined, token_hash: undefined, remote: undefined }],
  ['quotes, backslashes, control characters and non-ASCII', { ...FULL, path: '/a"b\\c', client_id: 'tab\there\nnewline\u0001', issuer: 'ünïcødé ✓ 𝄞', detail: `"${'long '.repeat(40)}\\"` }],
  ['a non-finite latency', { ...FULL, latency_ms: Number.NaN, status: 503, decision: 'error', reason: 'GW_UPSTREAM_UNAVAILABLE' }],
];

describe('request log line (HDR-2, TOK-10)', () => {
  for (const [name, line] of LINES) {
    it(`is byte-identical to pino's line: ${name}`, () => {
      for (const level of ['info', 'warn', 'error'] as const) {
        const ours = capture();
        const theirs = capture();
        const logger = gatewayLike(ours);
        // The direct path must be the one taken: pino's own methods are not called.
        let viaPino = 0;
        logger[level] = (() => void viaPino++) as pino.LogFn;
        requestLogWriter(logger)(level, line, 'allow');
        gatewayLike(theirs)[level](line, 'allow');
        expect(viaPino).toBe(0);
        expect(ours.lines).toHaveLength(1);
        expect(ours.lines).toEqual(theirs.lines);
      }
    });
  }

  it("carries a child logger's bindings, as pino does", () => {
    const ours = capture();
    const theirs = capture();
    requestLogWriter(gatewayLike(ours).child({ worker: 2 }))('info', FULL, 'allow');
    gatewayLike(theirs).child({ worker: 2 }).info(FULL, 'allow');
    expect(ours.lines[0]).toContain('"worker":2');
    expect(ours.lines).toEqual(theirs.lines);
  });

  it('writes nothing below the logger level', () => {
    const dest = capture();
    const logger = gatewayLike(dest, { level: 'warn' });
    const write = requestLogWriter(logger);
    write('info', FULL, 'allow');
    expect(dest.lines).toHaveLength(0);
    write('warn', FULL, 'unbound token accepted (binding: none)');
    expect(JSON.parse(dest.lines[0] as string)).toMatchObject({ level: 'warn', msg: 'unbound token accepted (binding: none)', route: 'accounts' });
  });

  it("leaves loggers with a mixin or serializers to pino's own path", () => {
    const dest = capture();
    requestLogWriter(gatewayLike(dest, { mixin: () => ({ zone: 'eu' }) }))('info', FULL, 'allow');
    expect(JSON.parse(dest.lines[0] as string)).toMatchObject({ zone: 'eu', route: 'accounts' });
    const dest2 = capture();
    requestLogWriter(gatewayLike(dest2, { serializers: { route: (r: string) => r.toUpperCase() } }))('info', FULL, 'allow');
    expect(JSON.parse(dest2.lines[0] as string)).toMatchObject({ route: 'ACCOUNTS' });
  });

  it('escapes a lone surrogate, so the line stays valid JSON', () => {
    const dest = capture();
    requestLogWriter(gatewayLike(dest))('info', { ...FULL, client_id: 'a\ud800b' }, 'allow');
    expect(dest.lines[0]).toContain('"client_id":"a\\ud800b"');
    expect(JSON.parse(dest.lines[0] as string).client_id).toBe('a\ud800b');
  });

  it("through the gateway's own logger: one JSON line with level, time, service, pid, the fields and msg", () => {
    const dest = capture();
    requestLogWriter(createLogger('info', dest))('info', FULL, 'allow');
    const parsed = JSON.parse(dest.lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['level', 'time', 'service', 'pid', ...Object.keys(FULL).filter((k) => k !== 'detail'), 'msg']);
    expect(parsed).toMatchObject({ level: 'info', service: 'fapi-gateway', pid: process.pid, msg: 'allow' });
    expect(Date.parse(parsed.time as string)).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe('isoTime', () => {
  it("is pino's isoTime, formatted once per millisecond", () => {
    const before = Date.now();
    const t = isoTime();
    const after = Date.now();
    const m = /^,"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"$/.exec(t);
    expect(m).not.toBeNull();
    const ms = Date.parse((m as RegExpExecArray)[1] as string);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
    // A later millisecond gets its own time, not the cached one.
    while (Date.now() <= ms) {
      /* spin for at most a millisecond */
    }
    expect(isoTime()).not.toBe(t);
  });
});
