/**
 * Starts the delivery workflow of one outbound event, idempotently: the workflow id is the event
 * id, a running delivery is kept (USE_EXISTING) and a finished one is not run again
 * (REJECT_DUPLICATE), so an event decided twice is delivered once. Used by the session workflow's
 * local activity and by `DELETE /items/:item_id`.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { EventRetryPolicy } from '../workflows/eventActivityTypes';
import type { eventDeliveryWorkflow } from '../workflows/eventDelivery';
import type { OutboundEvent } from '../workflows/events';

export const EVENT_DELIVERY_WORKFLOW = 'eventDeliveryWorkflow';

/** True when it started now, false when that event's delivery already existed. */
export async function startEventDelivery(
  client: Client,
  opts: { taskQueue: string; event: OutboundEvent; retry: EventRetryPolicy },
): Promise<boolean> {
  try {
    await client.workflow.start<typeof eventDeliveryWorkflow>(EVENT_DELIVERY_WORKFLOW, {
      workflowId: opts.event.id,
      taskQueue: opts.taskQueue,
      args: [{ event: opts.event, retry: opts.retry }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `${opts.event.type} → LINKFLOW_EVENTS_URL`,
    });
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}
