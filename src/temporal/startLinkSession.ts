/**
 * Starts the workflow of one Link session, right after its link token was created. Idempotent by
 * workflow id (`link-session:<link_token>`): starting the same session twice returns the running one.
 */
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { linkSessionWorkflowId } from '../workflows/definitions';
import type { linkSessionWorkflow } from '../workflows/linkSession';
import { ClientUserId, LinkItemCount, LinkSessionStatus, PlaidUserId } from '../workflows/searchAttributes';
import type { LinkSessionInput } from '../workflows/types';

export type LinkSessionHandle = WorkflowHandle<typeof linkSessionWorkflow>;

export const LINK_SESSION_WORKFLOW_TYPE = 'linkSessionWorkflow';

/**
 * How every Link session workflow is started (the API, tests, the bench): its id, the search
 * attributes the Temporal UI filters on before the first workflow task, and the UI's summary.
 */
export function linkSessionStartOptions(input: LinkSessionInput, taskQueue: string) {
  return {
    workflowId: linkSessionWorkflowId(input.linkToken),
    taskQueue,
    // A closed session is never started again under the same link token.
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    args: [input] as [LinkSessionInput],
    // Kept so that a webhook arriving after the run closed can start the session again
    // (reopenLinkSession); encrypted by the codec like every payload.
    memo: { input },
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
  } satisfies WorkflowStartOptions<typeof linkSessionWorkflow>;
}

export async function startLinkSession(
  client: Client,
  input: LinkSessionInput,
  opts: { taskQueue: string },
): Promise<LinkSessionHandle> {
  const options = linkSessionStartOptions(input, opts.taskQueue);
  try {
    return await client.workflow.start<typeof linkSessionWorkflow>(LINK_SESSION_WORKFLOW_TYPE, options);
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return client.workflow.getHandle(options.workflowId);
    throw err;
  }
}
