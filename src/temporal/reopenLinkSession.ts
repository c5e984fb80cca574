/**
 * A webhook for a link token whose workflow already closed still gets its public token exchanged:
 * the session is started again (signal-with-start) from the input its first run kept in its memo,
 * carrying the closed run's last view so its Items stay in the session. A closed run should be
 * rare (a run stays open while its token can produce Items), but a webhook Plaid retried for a day
 * must never be acknowledged and dropped.
 */
import { type Client, type SignalDefinition, WorkflowNotFoundError } from '@temporalio/client';
import { linkSessionWorkflowId } from '../workflows/definitions';
import type { linkSessionWorkflow } from '../workflows/linkSession';
import type { LinkSessionInput, SessionView } from '../workflows/types';
import { LINK_SESSION_WORKFLOW_TYPE, linkSessionStartOptions } from './startLinkSession';

export type ReopenOutcome = 'reopened' | 'unknown_session';

export async function reopenLinkSession<Args extends unknown[]>(
  client: Client,
  taskQueue: string,
  linkToken: string,
  signal: SignalDefinition<Args>,
  signalArgs: Args,
): Promise<ReopenOutcome> {
  const handle = client.workflow.getHandle(linkSessionWorkflowId(linkToken));
  let input: LinkSessionInput | undefined;
  try {
    input = (await handle.describe()).memo?.input as LinkSessionInput | undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'unknown_session'; // never existed
    throw err;
  }
  // Runs started before the input was kept in the memo cannot be reopened faithfully.
  if (!input) return 'unknown_session';
  let previous: SessionView | undefined;
  try {
    previous = (await handle.result()) as SessionView;
  } catch {
    previous = undefined; // failed or terminated: start from the input alone
  }
  const args: Parameters<typeof linkSessionWorkflow> = [input, undefined, previous];
  const options = {
    ...linkSessionStartOptions(input, taskQueue),
    // Only this path may start a closed session again; creation keeps REJECT_DUPLICATE.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    args,
    signal,
    signalArgs,
  };
  // The SDK's overloads cannot relate a generic signal's arguments to this workflow's type.
  await client.workflow.signalWithStart(
    LINK_SESSION_WORKFLOW_TYPE,
    options as unknown as Parameters<typeof client.workflow.signalWithStart>[1],
  );
  return 'reopened';
}
