/**
 * The API's Prometheus metrics, registered on an injected registry (tests use a fresh one per app).
 * Registering twice on one registry returns the metrics already there instead of throwing.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ApiMetrics {
  registry: Registry;
  /** Webhooks received, by Plaid webhook code and what became of them. */
  webhooks: Counter<'webhook_code' | 'outcome'>;
  /** Webhooks whose `Plaid-Verification` did not check out, by reason. */
  webhookVerificationFailures: Counter<'reason'>;
  /** Time from the webhook's arrival to the signal call's completion. */
  signalLatency: Histogram<'signal'>;
  /** Every HTTP request, by method, matched route pattern and status. */
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
}

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  const registers = [registry];
  return {
    registry,
    webhooks: getOrCreate(
      registry,
      'linkflow_webhooks_total',
      () =>
        new Counter({
          name: 'linkflow_webhooks_total',
          help: 'Plaid webhooks received, by webhook_code and outcome',
          labelNames: ['webhook_code', 'outcome'] as const,
          registers,
        }),
    ),
    webhookVerificationFailures: getOrCreate(
      registry,
      'linkflow_webhook_verification_failures_total',
      () =>
        new Counter({
          name: 'linkflow_webhook_verification_failures_total',
          help: 'Plaid webhooks rejected by signature verification, by reason',
          labelNames: ['reason'] as const,
          registers,
        }),
    ),
    signalLatency: getOrCreate(
      registry,
      'linkflow_signal_latency_seconds',
      () =>
        new Histogram({
          name: 'linkflow_signal_latency_seconds',
          help: 'Latency of handing a verified webhook to its workflow as a signal',
          labelNames: ['signal'] as const,
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers,
        }),
    ),
    httpRequests: getOrCreate(
      registry,
      'linkflow_http_requests_total',
      () =>
        new Counter({
          name: 'linkflow_http_requests_total',
          help: 'HTTP requests served by the API, by method, route pattern and status',
          labelNames: ['method', 'route', 'status'] as const,
          registers,
        }),
    ),
    httpDuration: getOrCreate(
      registry,
      'linkflow_http_request_duration_seconds',
      () =>
        new Histogram({
          name: 'linkflow_http_request_duration_seconds',
          help: 'HTTP request duration, by method and route pattern',
          labelNames: ['method', 'route'] as const,
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    ),
  };
}

/** Where the unknown-outcome figures come from: the store, shared by the worker and the API. */
export interface OutcomeSource {
  outcomeUnknownCounts(): Promise<{ exchanges: number; processorTokens: number }>;
}

/**
 * Gauges read from the store at scrape time: exchanges (and processor tokens) whose outcome is
 * unknown because Plaid's answer was lost. The worker records them, the API serves /metrics; the
 * store is what both processes share (`npm start` or `npm run worker` + `npm run api`). A scrape
 * that cannot read the store reports NaN rather than a stale figure.
 */
export function registerOutcomeGauges(registry: Registry, source: OutcomeSource): void {
  let pending: Promise<{ exchanges: number; processorTokens: number } | null> | null = null;
  // Both gauges of one scrape (collected together) share one query.
  const read = () => {
    pending ??= source
      .outcomeUnknownCounts()
      .catch(() => null)
      .finally(() => {
        pending = null;
      });
    return pending;
  };
  const gauge = (
    name: string,
    help: string,
    pick: (c: { exchanges: number; processorTokens: number }) => number,
  ) =>
    getOrCreate(
      registry,
      name,
      () =>
        new Gauge({
          name,
          help,
          registers: [registry],
          async collect() {
            const counts = await read();
            this.set(counts ? pick(counts) : Number.NaN);
          },
        }),
    );
  gauge(
    'linkflow_exchange_outcome_unknown',
    'Public tokens whose exchange outcome is unknown (the request may have reached Plaid, its answer was lost, a retry was refused): recorded as EXCHANGE_OUTCOME_UNKNOWN',
    (c) => c.exchanges,
  );
  gauge(
    'linkflow_processor_token_outcome_unknown',
    'Link sessions whose /processor/token/create answer was lost (a processor token may exist at the processor): recorded as PROCESSOR_TOKEN_OUTCOME_UNKNOWN',
    (c) => c.processorTokens,
  );
}
