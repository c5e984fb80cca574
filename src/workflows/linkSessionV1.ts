/**
 * The first version of the Link session workflow, kept only so that histories it wrote replay
 * exactly (`linkSessionWorkflow` runs it for runs without the `session-lifecycle-v2` marker). It
 * closed when the first Link session settled; the current version outlives it. Do not change
 * the commands this issues.
 */
import { allHandlersFinished, condition, log, patched, workflowInfo } from '@temporalio/workflow';
import { initialState, isTerminal, type SessionState, statusOf, toView } from './reducer';
import { createSessionRuntime, resumeCommands } from './sessionRuntime';
import { nextPollDelay, windowEnd } from './timing';
import type { LinkSessionInput, SessionView } from './types';

/** Continue-as-new well before Temporal's suggestion, so a session that polls for hours stays small. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 2_000;

export async function linkSessionV1(
  input: LinkSessionInput,
  carried: SessionState | undefined,
  continueWith: (state: SessionState) => Promise<never>,
): Promise<SessionView> {
  // Only a carried state (continue-as-new) can hold work decided but not finished; in a fresh run,
  // signals delivered before this point already started their work. Histories written before this
  // fix re-ran that work, so replay keeps the old behaviour for them.
  const resume = patched('resume-only-carried-work') ? (carried ? resumeCommands(carried) : []) : null;
  const session = createSessionRuntime(input, carried ?? initialState(input, 1), { legacy: true });
  const nowIso = () => new Date().toISOString();

  // A carried state may hold work that the previous run had decided but not finished.
  for (const command of resume ?? resumeCommands(session.state)) session.run(command);
  session.publish();

  const startedAt = Date.now();
  let nextPollAt = 0;
  let unchangedPolls = 0;
  let lastLookDone = false;
  const pollNow = async () => {
    const before = progressMark(session.state);
    session.dispatch(await session.poll(false));
    unchangedPolls = progressMark(session.state) === before ? unchangedPolls + 1 : 0;
    nextPollAt = Date.now() + nextPollDelay(input.timing, unchangedPolls);
  };

  while (!isTerminal(statusOf(session.state))) {
    const state = session.state;
    const seen = session.version;
    const now = Date.now();
    const status = statusOf(state);
    let wakeAt = Number.POSITIVE_INFINITY;

    if (status === 'awaiting_payment_account') {
      if (state.paymentPhase.phase === 'none') {
        const timesOutAt = Date.parse(state.awaitingSince ?? nowIso()) + input.timing.selectionTimeoutMs;
        if (now >= timesOutAt) {
          session.dispatch({ type: 'selectionTimedOut', at: nowIso() });
          continue;
        }
        wakeAt = timesOutAt;
      }
    } else {
      const deadline = windowEnd(state, input);
      if (now >= deadline) {
        if (!state.finished && !lastLookDone) {
          // One last look before declaring the window closed: Plaid may have finished just now.
          lastLookDone = true;
          await pollNow();
          continue;
        }
        // In-flight work settles on its own deadlines (a public token's 30 minutes at most).
        if (session.inFlight === 0) {
          session.dispatch({ type: 'windowClosed', at: nowIso() });
          continue;
        }
      } else {
        wakeAt = deadline;
      }
      if (!state.finished) {
        // Webhooks are the fast path; /link/token/get is the fallback when they go quiet.
        const lastNews = Math.max(startedAt, Date.parse(state.lastWebhookAt ?? '1970-01-01T00:00:00Z'));
        const quiet = now - lastNews >= input.timing.pollAfterMs;
        if (quiet !== state.polling.active) {
          if (quiet) {
            nextPollAt = now;
            unchangedPolls = 0;
          }
          session.dispatch({ type: 'pollingChanged', active: quiet });
          continue;
        }
        if (quiet && now >= nextPollAt) {
          await pollNow();
          continue;
        }
        wakeAt = Math.min(wakeAt, quiet ? nextPollAt : lastNews + input.timing.pollAfterMs);
      } else if (state.polling.active) {
        session.dispatch({ type: 'pollingChanged', active: false });
        continue;
      }
    }

    if (workflowInfo().historyLength > HISTORY_EVENTS_BEFORE_CONTINUE && session.inFlight === 0) {
      await condition(allHandlersFinished);
      return continueWith(session.state);
    }
    if (wakeAt === Number.POSITIVE_INFINITY) await condition(() => session.version !== seen);
    else await condition(() => session.version !== seen, Math.max(1, wakeAt - now));
  }

  // Let an in-flight payment-account update return its view before the run closes.
  await condition(allHandlersFinished);
  const view = toView(session.state);
  log.info('link session closed', { status: view.status, items: view.items.length });
  return view;
}

/** A fingerprint of what polling can change: tokens, sessions, finish. */
function progressMark(state: SessionState): string {
  return `${state.tokens.length}|${state.linkSessionIds.length}|${state.finished?.status ?? '-'}`;
}
