/**
 * The unknown-outcome gauges on /metrics: read from the store at scrape time (the worker records
 * outcomes, the API process serves /metrics), one store query per scrape, NaN when the store
 * cannot be read rather than a stale figure.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type OutcomeSource, registerOutcomeGauges } from '../../src/observability/metrics';

function source(counts: () => Promise<{ exchanges: number; processorTokens: number }>) {
  let reads = 0;
  const s: OutcomeSource & { reads: () => number } = {
    outcomeUnknownCounts: () => {
      reads += 1;
      return counts();
    },
    reads: () => reads,
  };
  return s;
}

describe('unknown-outcome gauges', () => {
  it('report what the store holds at each scrape, with one read per scrape', async () => {
    const registry = new Registry();
    let exchanges = 2;
    const store = source(async () => ({ exchanges, processorTokens: 1 }));
    registerOutcomeGauges(registry, store);
    let text = await registry.metrics();
    expect(text).toContain('# TYPE linkflow_exchange_outcome_unknown gauge');
    expect(text).toContain('linkflow_exchange_outcome_unknown 2');
    expect(text).toContain('linkflow_processor_token_outcome_unknown 1');
    expect(store.reads()).toBe(1);
    exchanges = 5;
    text = await registry.metrics();
    expect(text).toContain('linkflow_exchange_outcome_unknown 5');
    expect(store.reads()).toBe(2);
  });

  it('say NaN when the store cannot be read', async () => {
    const registry = new Registry();
    registerOutcomeGauges(
      registry,
      source(async () => {
        throw new Error('database down');
      }),
    );
    const text = await registry.metrics();
    // prom-client writes NaN as "Nan"; Prometheus parses it case-insensitively.
    expect(text).toMatch(/^linkflow_exchange_outcome_unknown nan$/im);
    expect(text).toMatch(/^linkflow_processor_token_outcome_unknown nan$/im);
  });

  it('registering twice on one registry keeps one pair of gauges', async () => {
    const registry = new Registry();
    const store = source(async () => ({ exchanges: 0, processorTokens: 0 }));
    registerOutcomeGauges(registry, store);
    registerOutcomeGauges(registry, store);
    const text = await registry.metrics();
    expect(text.match(/# TYPE linkflow_exchange_outcome_unknown gauge/g)).toHaveLength(1);
  });
});
