// Prometheus metrics (prom-client). Labels are bounded: route ids and catalog codes, never request data.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics.js';

export interface Metrics {
  readonly registry: Registry;
  /** The per-request three are recorded on the hot path: lean collectors (hot-metrics.ts). */
  readonly requests: HotCounter<'route' | 'decision' | 'reason' | 'status'>;
  readonly duration: HotHistogram<'route' | 'decision'>;
  readonly stage: HotHistogram<'stage'>;
  readonly jwksFetches: Counter<'issuer' | 'result'>;
  readonly clientJwksFetches: Counter<'client' | 'result'>;
  readonly unboundAccepted: Counter<'route'>;
  readonly configReloads: Counter<'result'>;
  readonly replayStoreErrors: Counter;
  readonly upstreamResends: Counter<'route'>;
  readonly tlsRefusals: Counter<'reason'>;
  readonly introspectionLookups: Counter<'issuer' | 'cache'>;
  readonly introspectionCalls: Counter<'issuer' | 'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fapi_gateway_process_' });
  return {
    registry,
    requests: new HotCounter('fapi_gateway_requests_total', 'Requests by route, decision and reason code', ['route', 'decision', 'reason', 'status'], registry),
    duration: new HotHistogram(
      'fapi_gateway_request_duration_seconds',
      'Whole-request latency as seen by the gateway',
      ['route', 'decision'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registry,
    ),
    stage: new HotHistogram(
      'fapi_gateway_stage_duration_seconds',
      'Latency of one pipeline stage: token validation, sender constraint (DPoP proof or certificate), request signature (with the body read), replay store, upstream',
      ['stage'],
      [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
      registry,
    ),
    jwksFetches: new Counter({
      name: 'fapi_gateway_jwks_fetches_total',
      help: 'JWKS and metadata fetches by issuer and result',
      labelNames: ['issuer', 'result'],
      registers: [registry],
    }),
    clientJwksFetches: new Counter({
      name: 'fapi_gateway_client_jwks_fetches_total',
      help: "Fetches of clients' jwks_uri (signed requests) by client_id and result",
      labelNames: ['client', 'result'],
      registers: [registry],
    }),
    unboundAccepted: new Counter({
      name: 'fapi_gateway_unbound_tokens_accepted_total',
      help: 'Tokens without cnf accepted on binding: none routes (non-FAPI escape hatch)',
      labelNames: ['route'],
      registers: [registry],
    }),
    introspectionLookups: new Counter({
      name: 'fapi_gateway_introspection_lookups_total',
      help: 'Introspection lookups by issuer, answered from the cache (hit) or by a call (miss)',
      labelNames: ['issuer', 'cache'],
      registers: [registry],
    }),
    introspectionCalls: new Counter({
      name: 'fapi_gateway_introspection_calls_total',
      help: 'Introspection calls to the AS by issuer and result (active, refused, error)',
      labelNames: ['issuer', 'result'],
      registers: [registry],
    }),
    tlsRefusals: new Counter({
      name: 'fapi_gateway_tls_handshake_refusals_total',
      help: 'TLS handshakes refused or failed, by reason (no or untrusted client certificate, protocol, timeout)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    upstreamResends: new Counter({
      name: 'fapi_gateway_upstream_resends_total',
      help: 'Idempotent requests sent once more after the upstream reset a reused pooled connection',
      labelNames: ['route'],
      registers: [registry],
    }),
    replayStoreErrors: new Counter({
      name: 'fapi_gateway_replay_store_errors_total',
      help: 'Replay store connection and command errors',
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'fapi_gateway_config_reloads_total',
      help: 'Config reloads by result',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
