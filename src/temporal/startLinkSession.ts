/**
 * Starts the workflow of one Link session, right after its link token was created. Idempotent by
 * workflow id (`link-session:<link_token>`): starting the same session twice returns the running one.
 */
import { type Client, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { linkSessionWorkflowId } from '../workflows/definitions';
import type { linkSessionWorkflow } from '../workflows/linkSession';
import { ClientUserId, LinkItemCount, LinkSessionStatus, PlaidUserId } from '../workflows/searchAttributes';
import type { LinkSessionInput } from '../workflows/types';

export type LinkSessionHandle = WorkflowHandle<typeof linkSessionWorkflow>;

export async function startLinkSession(
  client: Client,
  input: LinkSessionInput,
  opts: { taskQueue: string },
): Promise<LinkSessionHandle> {
  const workflowId = linkSessionWorkflowId(input.linkToken);
  try {
    return await client.workflow.start<typeof linkSessionWorkflow>('linkSessionWorkflow', {
      workflowId,
      taskQueue: opts.taskQueue,
      // A closed session is never started again under the same link token.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [input],
      typedSearchAttributes: [
        { key: LinkSessionStatus, value: 'waiting_for_user' },
        { key: ClientUserId, value: input.clientUserId },
        { key: PlaidUserId, value: input.userId },
        { key: LinkItemCount, value: 0 },
      ],
      staticSummary: `Link session for ${input.clientUserId}`,
      staticDetails: [
        `Plaid user: ${input.userId}`,
        `Products: ${input.products.join(', ')}`,
        `Payment: ${input.payment ? input.payment.product : 'none'}`,
        `Link token expires: ${input.expiration}`,
      ].join('\n'),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return client.workflow.getHandle(workflowId);
    throw err;
  }
}
