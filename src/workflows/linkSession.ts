/**
 * One Plaid Multi-Item Link session, from link token to payment account.
 *
 * The rules live in `reducer.ts`; this file only wires Temporal to them: signals and activity
 * results become events, commands become activities, timers drive polling and deadlines, and
 * the status is published as search attributes and current details for the Temporal UI.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { LinkSessionActivities } from './activityTypes';
import {
  getSessionQuery,
  itemAddResultSignal,
  selectPaymentAccountUpdate,
  sessionFinishedSignal,
} from './definitions';
import { currentDetails } from './details';
import { emitSessionEvents, eventsEmitted } from './emitEvents';
import {
  type Command,
  initialState,
  isTerminal,
  reduce,
  type SessionEvent,
  type SessionState,
  statusOf,
  toView,
} from './reducer';
import { LinkItemCount, LinkSessionStatus } from './searchAttributes';
import { nextPollDelay, windowEnd } from './timing';
import type { ErrorInfo, LinkSessionInput, SessionStatus, SessionView } from './types';

/** Retries that honour Plaid's rate limits and outages; permanent errors come back as values. */
const plaidRetry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

const { exchangePublicToken } = proxyActivities<LinkSessionActivities>({
  // Longer than the in-process save retries (~2 min): Temporal must not start a second attempt
  // while the first still holds an access token it has not stored yet.
  startToCloseTimeout: '3m',
  // The activity heartbeats every 2 s while it works: a worker killed mid-exchange is noticed in
  // 30 s (and the exchange retried on another) instead of after the whole 3 minutes.
  heartbeatTimeout: '30s',
  // A public token expires 30 minutes after Link created it: past that, retrying is pointless.
  scheduleToCloseTimeout: '30m',
  retry: plaidRetry,
});
const { describeItem, setupPayment } = proxyActivities<LinkSessionActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '30m',
  retry: plaidRetry,
});
const { fetchLinkSessionResults } = proxyActivities<LinkSessionActivities>({
  startToCloseTimeout: '30s',
  // A failed poll is only a missed look; the next one comes soon.
  retry: { ...plaidRetry, maximumAttempts: 3 },
});

/** Continue-as-new well before Temporal's suggestion, so a session that polls for hours stays small. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 2_000;

export async function linkSessionWorkflow(
  input: LinkSessionInput,
  carried?: SessionState,
): Promise<SessionView> {
  let state = carried ?? initialState(input);
  // Only a carried state (continue-as-new) can hold work decided but not finished; in a fresh run,
  // signals delivered before this point already started their work. Histories written before this
  // fix re-ran that work, so replay keeps the old behaviour for them.
  const resume = patched('resume-only-carried-work') ? (carried ? resumeCommands(carried) : []) : null;
  let version = 0;
  let inFlight = 0;
  let published: { status: SessionStatus; items: number } | null = null;
  const nowIso = () => new Date().toISOString();

  const publish = () => {
    const view = toView(state);
    const items = view.items.filter((i) => i.status === 'exchanged').length;
    if (published?.status !== view.status || published.items !== items) {
      upsertSearchAttributes([
        { key: LinkSessionStatus, value: view.status },
        { key: LinkItemCount, value: items },
      ]);
      published = { status: view.status, items };
    }
    setCurrentDetails(currentDetails(view));
    // Outbound events (issue 14): deterministic ids, one local activity per batch.
    if (patched('emit-events')) emitSessionEvents(input, view, nowIso());
  };

  const dispatch = (event: SessionEvent) => {
    const next = reduce(state, versioned(event), nowIso());
    state = next.state;
    version++;
    for (const command of next.commands) run(command);
    publish();
  };

  // A failure for a token already exchanged leaves the Item exchanged (a reducer rule). Histories
  // recorded before that rule let it overwrite the Item, and must replay as they ran. Decided at
  // dispatch, against the state the reducer will see.
  const versioned = (event: SessionEvent): SessionEvent => {
    if (event.type !== 'exchangeFailed') return event;
    const token = state.tokens.find((t) => t.publicToken === event.publicToken);
    return token?.status === 'exchanged' && !patched('exchanged-stays-exchanged')
      ? { ...event, legacyOverwrite: true }
      : event;
  };

  const track = (work: Promise<SessionEvent>) => {
    inFlight++;
    void work.then(
      (event) => {
        inFlight--;
        dispatch(event);
      },
      (err) => {
        inFlight--;
        throw err;
      },
    );
  };

  const run = (command: Command) => {
    switch (command.type) {
      case 'exchange': {
        // The exchange describes the Item too (one activity and one workflow task fewer before
        // eligibility). Histories recorded before that ran a separate describeItem for each Item.
        const describe = patched('describe-with-exchange');
        return track(
          exchangePublicToken({
            linkToken: input.linkToken,
            publicToken: command.publicToken,
            clientUserId: input.clientUserId,
            userId: input.userId,
            ...(describe && { describe: true }),
          }).then(
            (r): SessionEvent =>
              r.ok
                ? {
                    type: 'exchanged',
                    publicToken: command.publicToken,
                    itemId: r.itemId,
                    ...(r.details && { details: r.details }),
                  }
                : { type: 'exchangeFailed', publicToken: command.publicToken, error: r.error },
            (err): SessionEvent => ({
              type: 'exchangeFailed',
              publicToken: command.publicToken,
              error: failureInfo(err),
            }),
          ),
        );
      }
      case 'describe':
        return track(
          describeItem({ itemId: command.itemId }).then(
            (details): SessionEvent => ({ type: 'itemDescribed', details }),
            (err): SessionEvent => ({
              type: 'describeFailed',
              itemId: command.itemId,
              error: failureInfo(err),
            }),
          ),
        );
      case 'reconcile':
        return track(poll(true));
      case 'setupPayment':
        return track(
          setupPayment({
            linkToken: input.linkToken,
            itemId: command.itemId,
            accountId: command.accountId,
            choice: command.choice,
          }).then(
            (result): SessionEvent => ({ type: 'paymentSucceeded', result }),
            (err): SessionEvent => ({ type: 'paymentFailed', error: failureInfo(err) }),
          ),
        );
    }
  };

  const poll = (final: boolean): Promise<SessionEvent> =>
    fetchLinkSessionResults({ linkToken: input.linkToken }).then(
      (snapshot): SessionEvent => ({ type: 'polled', snapshot, at: nowIso(), final }),
      (err): SessionEvent => ({ type: 'pollFailed', error: failureInfo(err), at: nowIso(), final }),
    );

  setHandler(itemAddResultSignal, (s) =>
    dispatch({
      type: 'itemAddResult',
      publicToken: s.public_token,
      linkSessionId: s.link_session_id,
      at: s.received_at,
    }),
  );
  setHandler(sessionFinishedSignal, (s) =>
    dispatch({
      type: 'sessionFinished',
      status: s.status,
      linkSessionId: s.link_session_id,
      publicTokens: s.public_tokens,
      at: s.received_at,
      source: 'session_finished',
    }),
  );
  setHandler(getSessionQuery, () => toView(state));
  setHandler(
    selectPaymentAccountUpdate,
    async ({ account_id }) => {
      dispatch({ type: 'paymentAccountSelected', accountId: account_id, at: nowIso() });
      await condition(() => state.paymentPhase.phase !== 'running');
      return toView(state);
    },
    {
      // Runs before anything is written to history: a refused choice leaves no trace.
      validator: ({ account_id }) => {
        const view = toView(state);
        if (view.status !== 'awaiting_payment_account' || state.paymentPhase.phase !== 'none') {
          throw ApplicationFailure.nonRetryable(
            `session is ${view.status}, not awaiting a payment account`,
            'NOT_AWAITING_PAYMENT_ACCOUNT',
          );
        }
        if (!view.eligible_accounts.some((a) => a.account_id === account_id)) {
          const known = view.ineligible_accounts.find((a) => a.account_id === account_id);
          throw ApplicationFailure.nonRetryable(
            known
              ? `account ${account_id} cannot move money (${known.reason})`
              : `account ${account_id} is not an account of this session`,
            'ACCOUNT_NOT_ELIGIBLE',
          );
        }
      },
    },
  );

  // A carried state may hold work that the previous run had decided but not finished.
  for (const command of resume ?? resumeCommands(state)) run(command);
  publish();

  const startedAt = Date.now();
  let nextPollAt = 0;
  let unchangedPolls = 0;
  let lastLookDone = false;
  const pollNow = async () => {
    const before = progressMark(state);
    dispatch(await poll(false));
    unchangedPolls = progressMark(state) === before ? unchangedPolls + 1 : 0;
    nextPollAt = Date.now() + nextPollDelay(input.timing, unchangedPolls);
  };

  while (!isTerminal(statusOf(state))) {
    const seen = version;
    const now = Date.now();
    const status = statusOf(state);
    let wakeAt = Number.POSITIVE_INFINITY;

    if (status === 'awaiting_payment_account') {
      if (state.paymentPhase.phase === 'none') {
        const timesOutAt = Date.parse(state.awaitingSince ?? nowIso()) + input.timing.selectionTimeoutMs;
        if (now >= timesOutAt) {
          dispatch({ type: 'selectionTimedOut', at: nowIso() });
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
        if (inFlight === 0) {
          dispatch({ type: 'windowClosed', at: nowIso() });
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
          dispatch({ type: 'pollingChanged', active: quiet });
          continue;
        }
        if (quiet && now >= nextPollAt) {
          await pollNow();
          continue;
        }
        wakeAt = Math.min(wakeAt, quiet ? nextPollAt : lastNews + input.timing.pollAfterMs);
      } else if (state.polling.active) {
        dispatch({ type: 'pollingChanged', active: false });
        continue;
      }
    }

    if (workflowInfo().historyLength > HISTORY_EVENTS_BEFORE_CONTINUE && inFlight === 0) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof linkSessionWorkflow>(input, state);
    }
    if (wakeAt === Number.POSITIVE_INFINITY) await condition(() => version !== seen);
    else await condition(() => version !== seen, Math.max(1, wakeAt - now));
  }

  // Let an in-flight payment-account update return its view before the run closes.
  await condition(allHandlersFinished);
  await eventsEmitted(input); // issue 14: a pending local activity would be dropped at completion
  const view = toView(state);
  log.info('link session closed', { status: view.status, items: view.items.length });
  return view;
}

/** Commands for work a carried state had decided on but whose result never arrived. */
function resumeCommands(state: SessionState): Command[] {
  const commands: Command[] = [];
  for (const t of state.tokens)
    if (t.status === 'exchanging') commands.push({ type: 'exchange', publicToken: t.publicToken });
  for (const i of state.items) if (i.describing) commands.push({ type: 'describe', itemId: i.itemId });
  if (state.reconcile === 'pending') commands.push({ type: 'reconcile' });
  return commands;
}

/** A fingerprint of what polling can change: tokens, sessions, finish. */
function progressMark(state: SessionState): string {
  return `${state.tokens.length}|${state.linkSessionIds.length}|${state.finished?.status ?? '-'}`;
}

function failureInfo(err: unknown): ErrorInfo {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { code: cause.type ?? 'ACTIVITY_FAILED', message: cause.message, retryable: false };
  }
  if (cause && typeof cause === 'object' && 'timeoutType' in cause) {
    return {
      code: 'TIMED_OUT',
      message: 'Plaid did not answer successfully before the deadline',
      retryable: false,
    };
  }
  return { code: 'ACTIVITY_FAILED', message: String((cause as Error)?.message ?? cause), retryable: false };
}
