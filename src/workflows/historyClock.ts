/**
 * The time a Link session decides by: built only from what its history holds, so a replay decides
 * exactly as the run did.
 *
 * `Date.now()` in a workflow is the time of the activation, and an activation does not always run
 * at the time a replay gives it. A query that reaches a worker which has not cached the run makes
 * the SDK (1.24) apply the events since the last workflow task, a fired timer included, at that
 * task's time; the workflow task that follows sends the commands decided then. Comparing
 * `Date.now()` with a due time said "not yet" there and "now" in every later replay: a
 * nondeterminism error that stuck the session (test/chaos/queryAfterWorkerDeath.test.ts).
 *
 * The clock is the latest of: the run's start, every due time a fired timer was set for, and the
 * latest webhook's receipt. It lags the wall clock between those events, which only ever delays a
 * decision until the timer set for it fires; `Date.now()` still sizes timers (replay does not check
 * a timer's duration).
 */
import { workflowInfo } from '@temporalio/workflow';
import type { SessionState } from './reducer';

export interface HistoryClock {
  /** The session's time, in ms since the epoch. */
  now(state: SessionState): number;
  /** A timer set for `at` fired: the time reached `at`. */
  reached(at: number): void;
}

export function historyClock(): HistoryClock {
  let reached = workflowInfo().runStartTime.getTime();
  return {
    now: (state) => Math.max(reached, state.lastWebhookAt ? Date.parse(state.lastWebhookAt) : reached),
    reached: (at) => {
      reached = Math.max(reached, at);
    },
  };
}
