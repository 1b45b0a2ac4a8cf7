// Prometheus metrics (prom-client). Labels are bounded: route ids and catalog codes, never request data.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'decision' | 'reason' | 'status'>;
  readonly duration: Histogram<'route' | 'decision'>;
  readonly stage: Histogram<'stage'>;
  readonly jwksFetches: Counter<'issuer' | 'result'>;
  readonly unboundAccepted: Counter<'route'>;
  readonly configReloads: Counter<'result'>;
  readonly replayStoreErrors: Counter;
  readonly introspectionLookups: Counter<'issuer' | 'cache'>;
  readonly introspectionCalls: Counter<'issuer' | 'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fapi_gateway_process_' });
  return {
    registry,
    requests: new Counter({
      name: 'fapi_gateway_requests_total',
      help: 'Requests by route, decision and reason code',
      labelNames: ['route', 'decision', 'reason', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'fapi_gateway_request_duration_seconds',
      help: 'Whole-request latency as seen by the gateway',
      labelNames: ['route', 'decision'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    stage: new Histogram({
      name: 'fapi_gateway_stage_duration_seconds',
      help: 'Latency of one pipeline stage: token validation, sender constraint (DPoP proof or certificate), replay store, upstream',
      labelNames: ['stage'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
      registers: [registry],
    }),
    jwksFetches: new Counter({
      name: 'fapi_gateway_jwks_fetches_total',
      help: 'JWKS and metadata fetches by issuer and result',
      labelNames: ['issuer', 'result'],
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
