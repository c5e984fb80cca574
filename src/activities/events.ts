/**
 * Outbound events: starting their delivery workflows (a local activity of the session workflow,
 * through the worker's own Temporal client) and delivering one, signed per the Standard Webhooks
 * specification with the `standardwebhooks` package: `webhook-id` is the event id on every
 * attempt (receivers dedupe on it), `webhook-timestamp` and `webhook-signature` are made fresh
 * for each attempt. Bodies are `{ type, timestamp, data }` and never hold a secret.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Webhook } from 'standardwebhooks';
import type { EventDeliveryStore } from '../store/eventDeliveries';
import { startEventDelivery } from '../temporal/startEventDelivery';
import type { EventActivities, EventRetryPolicy } from '../workflows/eventActivityTypes';
import type { OutboundEvent } from '../workflows/events';

export interface OutboundEventsConfig {
  /** LINKFLOW_EVENTS_URL */
  url: string;
  /** LINKFLOW_EVENTS_SECRET (`whsec_…`) */
  secret: string;
  retry: EventRetryPolicy;
  /** Bound on one POST (default 15 s). */
  timeoutMs?: number;
}

export interface EventActivityDeps {
  config: OutboundEventsConfig;
  deliveries: Pick<EventDeliveryStore, 'recordEventAttempt'>;
}

/** The POST body, exactly as signed. */
export const eventBody = (event: OutboundEvent): string =>
  JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });

/** With `deps` undefined (events not configured), nothing is started or sent. */
export function createEventActivities(deps: EventActivityDeps | undefined): EventActivities {
  const webhook = deps ? new Webhook(deps.config.secret) : null;
  return {
    async startEventDeliveries(events) {
      if (!deps) return { started: 0, existing: 0, disabled: true };
      const context = Context.current();
      let started = 0;
      for (const event of events) {
        const fresh = await startEventDelivery(context.client, {
          taskQueue: context.info.taskQueue,
          event,
          retry: deps.config.retry,
        });
        if (fresh) started++;
      }
      return { started, existing: events.length - started, disabled: false };
    },

    async deliverEvent({ event }) {
      if (!deps || !webhook) {
        throw ApplicationFailure.nonRetryable(
          'outbound events are not configured (LINKFLOW_EVENTS_URL, LINKFLOW_EVENTS_SECRET)',
          'EVENTS_NOT_CONFIGURED',
        );
      }
      const attempt = currentAttempt();
      const body = eventBody(event);
      const now = new Date();
      let status: number | null = null;
      let failure: string;
      try {
        const res = await fetch(deps.config.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'linkflow-events/1',
            'webhook-id': event.id,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': webhook.sign(event.id, now, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(deps.config.timeoutMs ?? 15_000),
        });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) {
          await deps.deliveries.recordEventAttempt({
            eventId: event.id,
            type: event.type,
            state: 'delivered',
            status,
            error: null,
          });
          return { status, attempt };
        }
        failure = `the receiver answered HTTP ${status}`;
      } catch (err) {
        failure = `the receiver could not be reached: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`;
      }
      await deps.deliveries
        .recordEventAttempt({
          eventId: event.id,
          type: event.type,
          state: 'retrying',
          status,
          error: failure,
        })
        .catch(() => undefined);
      throw ApplicationFailure.retryable(`${event.type} ${event.id}: ${failure}`, 'EVENT_NOT_DELIVERED');
    },

    async recordEventGivenUp({ event, error }) {
      if (!deps) return;
      await deps.deliveries.recordEventAttempt({
        eventId: event.id,
        type: event.type,
        state: 'given_up',
        status: null,
        error,
      });
    },
  };
}

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
