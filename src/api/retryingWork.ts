/**
 * What Temporal is retrying for a session right now, from the workflow's pending activities
 * (`describe()`), so a session view shows "Plaid answers RATE_LIMIT, attempt 3, next try at …"
 * while it happens. The workflow only learns of an activity's final outcome, so without this a
 * retryable Plaid error that eventually succeeds would never surface anywhere but the worker log.
 * Last failures are encrypted in history like every payload; the client's data converter decodes
 * them here. Messages are the activities' own (Plaid code and request id, never a token).
 */
import { ApplicationFailure, type Client, TimeoutFailure, type WorkflowHandle } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { optionalTsToDate } from '@temporalio/common/lib/time.js';

export interface RetryingWork {
  activity: string;
  /** The attempt running or scheduled next (2 = the first retry). */
  attempt: number;
  last_error: { code: string; message: string; retryable: true } | null;
  next_attempt_at: string | null;
}

function codeOf(err: Error): string {
  if (err instanceof ApplicationFailure) return err.type ?? 'APPLICATION_FAILURE';
  if (err instanceof TimeoutFailure) return `ACTIVITY_TIMEOUT_${err.timeoutType ?? 'UNKNOWN'}`;
  return err.name;
}

export async function retryingWork(client: Client, handle: WorkflowHandle): Promise<RetryingWork[]> {
  const { raw } = await handle.describe();
  const retried = (raw.pendingActivities ?? []).filter((a) => (a.attempt ?? 1) > 1);
  return Promise.all(
    retried.map(async (a): Promise<RetryingWork> => {
      const err = await decodeOptionalFailureToOptionalError(
        client.options.loadedDataConverter,
        a.lastFailure,
      );
      return {
        activity: a.activityType?.name ?? 'unknown',
        attempt: a.attempt ?? 0,
        last_error: err ? { code: codeOf(err), message: err.message, retryable: true } : null,
        next_attempt_at: optionalTsToDate(a.nextAttemptScheduleTime)?.toISOString() ?? null,
      };
    }),
  );
}
