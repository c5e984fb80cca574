/**
 * Outbound event deliveries in `/metrics`, read from the store at scrape time (the worker
 * delivers, the API serves the metrics: the database is what both see).
 */
import { Gauge, type Registry } from 'prom-client';
import type { EventDeliveryStore } from '../store/eventDeliveries';

export function registerEventDeliveryMetrics(
  registry: Registry,
  store: Pick<EventDeliveryStore, 'eventDeliveryCounts'>,
): void {
  if (registry.getSingleMetric('linkflow_outbound_events')) return;
  new Gauge({
    name: 'linkflow_outbound_events',
    help: 'Outbound events by delivery state: delivered, retrying (last attempt failed, retries pending), given_up',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await store.eventDeliveryCounts();
      this.set({ state: 'delivered' }, counts.delivered);
      this.set({ state: 'retrying' }, counts.retrying);
      this.set({ state: 'given_up' }, counts.given_up);
    },
  });
  new Gauge({
    name: 'linkflow_outbound_event_attempts',
    help: 'POST attempts made for outbound events, first attempts included',
    registers: [registry],
    async collect() {
      this.set((await store.eventDeliveryCounts()).attempts);
    },
  });
}
