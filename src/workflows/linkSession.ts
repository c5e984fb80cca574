/**
 * One Plaid link token, from its creation to the payment account: every Link session the user
 * opens with it, every Item they add, the exchange of every public token, the payment step.
 *
 * The rules live in `reducer.ts` and the timing in `schedule.ts`; this file wires Temporal to
 * them. Signals and activity results become events; one scheduler coroutine sleeps until the next
 * thing due (a poll when webhooks went quiet, the selection timeout, the look after the token
 * expired) on a single timer that webhooks never cancel; the run closes when nothing more can
 * come from Plaid and the session reached a final status.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { eventsEmitted } from './emitEvents';
import { type HistoryClock, historyClock } from './historyClock';
import { linkSessionV1 } from './linkSessionV1';
import { initialState, reopenedState, type SessionState, toView, withRules3 } from './reducer';
import { type Due, mayClose, nextDue } from './schedule';
import { createSessionRuntime, resumeCommands, type SessionRuntime } from './sessionRuntime';
import type { LinkSessionInput, SessionView } from './types';

/** Continue-as-new well before Temporal's suggestion, so a session that polls for hours stays small. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 2_000;

/**
 * @param carried the state of the previous run (continue-as-new)
 * @param reopenedFrom the last view of a run that had closed when a webhook for this token came
 */
export async function linkSessionWorkflow(
  input: LinkSessionInput,
  carried?: SessionState,
  reopenedFrom?: SessionView,
): Promise<SessionView> {
  const continueWith = (state: SessionState) => continueAsNew<typeof linkSessionWorkflow>(input, state);
  // Runs begun before the session outlived its first Link session replay the first version.
  if (carried?.rules !== 2 && !patched('session-lifecycle-v2')) {
    return linkSessionV1(input, carried, continueWith);
  }

  const begun = carried
    ? upgraded(carried)
    : reopenedFrom
      ? reopenedState(input, reopenedFrom)
      : initialState(input);
  // Rules 3 (the payment Link, account verification, duplicate Items) change the commands a
  // session issues: runs recorded before them replay without.
  const start = begun.v3 || patched('payment-link-and-verification') ? withRules3(begun) : begun;
  const clock = historyClock();
  const session = createSessionRuntime(input, start, {
    legacy: false,
    clock,
    // The start (linkSessionStartOptions) already set the search attributes of a new session.
    ...(!carried && !reopenedFrom && { published: { status: 'waiting_for_user' as const, items: 0 } }),
  });
  // A carried state may hold work that the previous run had decided but not finished.
  if (carried) for (const command of resumeCommands(session.state)) session.run(command);
  session.publish();

  let continueRequested = false;
  void schedule(session, input, clock, () => {
    continueRequested = true;
  });

  await condition(() => mayClose(session.state, session.inFlight) || continueRequested);
  // Let signals and an in-flight payment-account update finish before the run ends.
  await condition(allHandlersFinished);
  if (!mayClose(session.state, session.inFlight)) return continueWith(session.state);
  // A local activity still pending when the run completes would be dropped with its events.
  await eventsEmitted(input);
  const view = toView(session.state);
  log.info('link session closed', { status: view.status, items: view.items.length });
  return view;
}

/**
 * The scheduler: sleeps until the next thing due and does it. A signal changes the state, not the
 * timer; it wakes the scheduler early only when it made something due sooner than the timer.
 * Decisions read the session's clock (historyClock.ts), built from history only.
 */
async function schedule(
  session: SessionRuntime,
  input: LinkSessionInput,
  clock: HistoryClock,
  requestContinue: () => void,
) {
  let sleepingUntil = Number.POSITIVE_INFINITY;
  let wake: (() => void) | null = null;
  session.onChange(() => {
    const due = nextDue(session.state, input, clock.now(session.state));
    if (wake && due && due.at < sleepingUntil) {
      const w = wake;
      wake = null;
      w();
    }
  });
  // A timer that fired proves the time reached what it was set for (an abandoned one too).
  const sleepUntil = (at: number) => sleep(Math.max(1, at - Date.now())).then(() => clock.reached(at));

  for (;;) {
    const info = workflowInfo();
    const limit = input.timing.continueAsNewAfterEvents ?? HISTORY_EVENTS_BEFORE_CONTINUE;
    if ((info.continueAsNewSuggested || info.historyLength > limit) && session.inFlight === 0) {
      requestContinue();
      return;
    }
    const now = clock.now(session.state);
    const due = nextDue(session.state, input, now);
    if (!due || due.at > now) {
      sleepingUntil = due ? due.at : Number.POSITIVE_INFINITY;
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      // No timer at all while only a signal or an activity can move the session.
      await (due ? Promise.race([sleepUntil(due.at), woken]) : woken);
      wake = null;
      continue;
    }
    const before = session.version;
    await act(session, due, now);
    // Every action changes the state; should one ever not, never spin inside a workflow task.
    if (session.version === before) await sleep(1_000);
  }
}

async function act(session: SessionRuntime, due: Due, now: number): Promise<void> {
  const at = new Date(now).toISOString();
  switch (due.action) {
    case 'selectionTimeout':
      return session.dispatch({ type: 'selectionTimedOut', at });
    case 'lookAgain':
      return session.dispatch({ type: 'lookAgain' });
    case 'startPolling':
      session.dispatch({ type: 'pollingChanged', active: true });
      return session.dispatch(await session.poll(false));
    case 'stopPolling':
      return session.dispatch({ type: 'pollingChanged', active: false });
    case 'poll':
      return session.dispatch(await session.poll(false));
    case 'lookAfterExpiry':
      return session.dispatch(await session.poll(false, true));
    case 'closeWindow':
      return session.dispatch({ type: 'windowClosed', at });
    case 'pollPaymentLink':
      return session.dispatch(await session.pollPaymentLink(due.target ?? ''));
    case 'refreshItem':
      return session.dispatch({ type: 'itemRefreshWanted', itemId: due.target ?? '' });
  }
}

/** A state carried from a run of the first version follows the current rules from now on. */
function upgraded(state: SessionState): SessionState {
  if (state.rules === 2) return state;
  return {
    ...state,
    rules: 2,
    linkSessions: state.linkSessionIds.map((id) => ({
      id,
      finishedAt: state.finished?.at ?? null,
      status: state.finished?.status ?? null,
    })),
  };
}
