/**
 * One outbound event, delivered: the workflow id is the event id (= `webhook-id`), so starting it
 * twice is a no-op, and each event is a workflow of its own in the Temporal UI, with its attempts,
 * last error and next retry. Retries back off up to `retry.maximumIntervalMs` and stop after
 * `retry.giveUpAfterMs` (72 h by default): then the event is counted as given up and the workflow fails.
 */
import { ActivityFailure, ApplicationFailure, log, proxyActivities } from '@temporalio/workflow';
import type { EventActivities, EventDeliveryInput, EventDeliveryResult } from './eventActivityTypes';

export async function eventDeliveryWorkflow(input: EventDeliveryInput): Promise<EventDeliveryResult> {
  const { deliverEvent } = proxyActivities<EventActivities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: input.retry.giveUpAfterMs,
    retry: {
      initialInterval: input.retry.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: input.retry.maximumIntervalMs,
      nonRetryableErrorTypes: ['EVENTS_NOT_CONFIGURED'],
    },
  });
  const { recordEventGivenUp } = proxyActivities<EventActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', maximumInterval: '1m' },
  });
  try {
    return await deliverEvent({ event: input.event });
  } catch (err) {
    const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
    const message = cause instanceof Error ? cause.message : String(cause);
    log.warn('outbound event given up', { event_id: input.event.id, type: input.event.type, error: message });
    await recordEventGivenUp({ event: input.event, error: message });
    throw ApplicationFailure.nonRetryable(`event ${input.event.id} given up: ${message}`, 'EVENT_GIVEN_UP');
  }
}
