/**
 * The time a Link session decides by: built only from what its history holds, so a replay decides
 * exactly as the run did.
 *
 * `Date.now()` in a workflow is the time of the activation, and an activation does not always run
 * at the time a replay gives it. A query that reaches a worker which has not cached the run makes
 * the SDK (1.24) apply the events since the last workflow task (fired timers, activity results) at
 * that task's time; the workflow task that follows sends the commands decided then. Comparing that
 * stale `Date.now()` with a due time said "not yet" there and "now" in every later replay: a
 * nondeterminism error that stuck the session (test/chaos/queryAfterWorkerDeath.test.ts). Flooring
 * `Date.now()` with the fired timer was not enough: the worker-kill chaos run still hit the case
 * with an exchange result among those events.
 *
 * The clock is the latest of: the run's start, every due time a fired timer was set for, the latest
 * webhook's receipt, and the latest poll of `/link/token/get` (its result carries the worker's time,
 * `fetchedAt`). Polls keep it in step with real time; between them it advances with the timers.
 * `Date.now()` only sizes the next timer (replay does not check a timer's duration).
 */
import { workflowInfo } from '@temporalio/workflow';
import type { SessionState } from './reducer';

export interface HistoryClock {
  /** The session's time, in ms since the epoch. */
  now(state: SessionState): number;
  /** A timer set for `at` fired: the time reached `at`. */
  reached(at: number): void;
}

const timeOf = (iso: string | null | undefined) => (iso ? Date.parse(iso) || 0 : 0);

export function historyClock(): HistoryClock {
  let reached = workflowInfo().runStartTime.getTime();
  return {
    now: (state) => Math.max(reached, timeOf(state.lastWebhookAt), timeOf(state.polling.lastPolledAt)),
    reached: (at) => {
      reached = Math.max(reached, at);
    },
  };
}
