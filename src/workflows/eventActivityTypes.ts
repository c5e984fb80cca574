/**
 * The outbound-event activities, as types only (implemented by `createEventActivities` in
 * src/activities/events.ts), so workflow code imports nothing but `@temporalio/workflow` and siblings.
 */
import type { OutboundEvent } from './events';

/** How long and how often one event is retried (LINKFLOW_EVENTS_RETRY_* / _GIVE_UP_AFTER). */
export interface EventRetryPolicy {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  /** After this long since the first attempt, the event is given up (≥ 24 h by default). */
  giveUpAfterMs: number;
}

export const DEFAULT_EVENT_RETRY: EventRetryPolicy = {
  initialIntervalMs: 5_000,
  maximumIntervalMs: 3_600_000,
  giveUpAfterMs: 72 * 3_600_000,
};

export interface EventDeliveryInput {
  event: OutboundEvent;
  retry: EventRetryPolicy;
}

export interface EventDeliveryResult {
  status: number;
  attempt: number;
}

export interface EventActivities {
  /**
   * Starts one delivery workflow per event (workflow id = event id; starting one that exists is a
   * no-op). Run as a local activity by the session workflow: one history event per batch.
   * Does nothing when events are not configured.
   */
  startEventDeliveries(
    events: OutboundEvent[],
  ): Promise<{ started: number; existing: number; disabled: boolean }>;
  /** One signed POST to LINKFLOW_EVENTS_URL; throws (Temporal retries) unless the receiver answers 2xx. */
  deliverEvent(input: { event: OutboundEvent }): Promise<EventDeliveryResult>;
  /** Counts the event as given up (for /metrics). */
  recordEventGivenUp(input: { event: OutboundEvent; error: string }): Promise<void>;
}
