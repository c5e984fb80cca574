/**
 * Who is calling Plaid and for how long it may: the activity attempt's identity (the lease owner),
 * its cancellation, and the keeper that refreshes a call lease while the attempt works.
 *
 * The numbers, and why they fit together:
 * - A Plaid call that must happen once runs with PLAID_CALL_TIMEOUT_MS (20 s) and is only
 *   started while the lease still has that plus CALL_MARGIN_MS (5 s) to live (the ledger checks
 *   it by the database clock). So the request is over before anyone else may take the lease,
 *   even if no refresh gets through meanwhile: that, not the refreshes, is the fence.
 * - LEASE_TTL_MS (40 s), refreshed every LEASE_REFRESH_MS (5 s): seven refreshes may fail in a
 *   row before a live holder loses it; a holder that died is replaced at most 40 s later.
 * - The worker throttles heartbeats to at most one per 5 s (src/temporal/worker.ts), well under
 *   the 30 s heartbeat timeout of the exchange activity: five heartbeats may be lost before
 *   Temporal gives up on a live attempt, and a cancellation reaches the attempt within ~5 s.
 */
import { randomUUID } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import { DEFAULT_DB_WAITS } from '../store/db';

export const PLAID_CALL_TIMEOUT_MS = 20_000;
export const CALL_MARGIN_MS = 5_000;
export const LEASE_TTL_MS = 40_000;
export const LEASE_REFRESH_MS = 5_000;
/** How long to keep trying to store a secret (access or processor token) held only in memory. */
export const SAVE_BUDGET_MS = 120_000;

export interface Attempt {
  /** The lease owner: workflow id / activity id # attempt. */
  owner: string;
  /** Aborted when Temporal cancels the attempt (workflow cancel, heartbeat timeout, shutdown). */
  cancellation: AbortSignal;
  /**
   * When Temporal stops retrying the activity (scheduled time + schedule-to-close timeout, epoch
   * ms), if it has such a bound: an attempt close to it is the last chance to record an outcome.
   */
  retriesEndAt?: number;
}

/** Closer than this to `retriesEndAt`, a retryable failure is treated as the last one. */
export const LAST_ATTEMPT_MARGIN_MS = 90_000;

/** Whether Temporal will probably not start another attempt after this one fails. */
export function isLastChance(attempt: Attempt, now = Date.now()): boolean {
  return attempt.retriesEndAt !== undefined && now + LAST_ATTEMPT_MARGIN_MS >= attempt.retriesEndAt;
}

/** The current Temporal activity attempt, or a one-off local attempt outside Temporal (tests). */
export function currentAttempt(): Attempt {
  try {
    const context = Context.current();
    const { info } = context;
    return {
      owner: `${info.workflowExecution?.workflowId ?? 'standalone'}/${info.activityId}#${info.attempt}`,
      cancellation: context.cancellationSignal,
      ...(info.scheduleToCloseTimeoutMs > 0 && {
        retriesEndAt: info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs,
      }),
    };
  } catch {
    return { owner: `local-${randomUUID()}`, cancellation: new AbortController().signal };
  }
}

/** What to throw to confirm a cancellation to Temporal. */
export function cancelled(attempt: Attempt, what: string): CancelledFailure {
  const reason = attempt.cancellation.reason;
  const why = reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
  return new CancelledFailure(`${what}: attempt ${attempt.owner} cancelled (${why})`);
}

export interface LeaseKeeper {
  /** Aborted once the lease is known lost (taken over, or not refreshed for its whole TTL). */
  readonly lost: AbortSignal;
  stop(): void;
}

/**
 * Refreshes a lease every `everyMs` until stopped. A refresh that finds the lease gone, or no
 * successful refresh for `ttlMs`, aborts `lost`, which aborts the Plaid call in flight.
 */
export function keepLease(opts: {
  refresh: () => Promise<boolean>;
  ttlMs?: number;
  everyMs?: number;
}): LeaseKeeper {
  const ttlMs = opts.ttlMs ?? LEASE_TTL_MS;
  const controller = new AbortController();
  let lastRefreshed = Date.now();
  let busy = false;
  const timer = setInterval(() => {
    if (busy || controller.signal.aborted) return;
    busy = true;
    opts
      .refresh()
      .then(
        (held) => {
          if (held) lastRefreshed = Date.now();
          else controller.abort(new Error('the call lease was taken over by another attempt'));
        },
        (err: unknown) => {
          if (Date.now() - lastRefreshed >= ttlMs) {
            controller.abort(
              new Error(`the call lease could not be refreshed for ${ttlMs} ms: ${(err as Error).message}`),
            );
          }
        },
      )
      .finally(() => {
        busy = false;
      });
  }, opts.everyMs ?? LEASE_REFRESH_MS);
  timer.unref();
  return {
    lost: controller.signal,
    stop: () => clearInterval(timer),
  };
}

/**
 * Runs `save` until it succeeds or `budgetMs` is spent (backing off 250 ms → 15 s). Used while a
 * secret Plaid handed out once exists only in this process's memory. Deliberately deaf to
 * cancellation: a save in progress finishes (the worker's shutdown grace time covers it).
 */
export async function saveWithRetry(save: () => Promise<void>, budgetMs = SAVE_BUDGET_MS): Promise<void> {
  const giveUpAt = Date.now() + budgetMs;
  let delay = 250;
  for (;;) {
    try {
      return await save();
    } catch (err) {
      if (Date.now() + delay > giveUpAt) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  }
}

/** The Plaid client's own timeout (src/plaid/client.ts), which bounds describing the Item. */
const DESCRIBE_TIMEOUT_MS = 30_000;

/**
 * Worst case of an exchange attempt's own work: two bounded DB waits before the call (the store
 * look-up and the lease), the Plaid call, the save, describing the Item. 220 s with the defaults;
 * the activity's startToCloseTimeout (4 min) and the worker's shutdown grace are above it.
 */
export const LONGEST_EXCHANGE_ATTEMPT_MS =
  2 * (DEFAULT_DB_WAITS.connectMs + DEFAULT_DB_WAITS.queryMs) +
  PLAID_CALL_TIMEOUT_MS +
  SAVE_BUDGET_MS +
  DESCRIBE_TIMEOUT_MS;
