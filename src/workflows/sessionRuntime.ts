/**
 * The part of a Link session workflow that both its versions share: the activities, the reducer
 * driven by events, commands run as activities, the session published for the Temporal UI, and
 * the signal, query and update handlers. `legacy` keeps the commands of the first version exactly
 * as its recorded histories expect (its patches, its search-attribute upserts).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { LinkSessionActivities } from './activityTypes';
import {
  addPaymentLinkPublicTokenUpdate,
  createPaymentLinkUpdate,
  createVerificationLinkUpdate,
  getSessionQuery,
  itemAddResultSignal,
  itemVerificationSignal,
  refreshItemUpdate,
  selectPaymentAccountUpdate,
  sessionFinishedSignal,
} from './definitions';
import { currentDetails } from './details';
import { emitSessionEvents } from './emitEvents';
import type { HistoryClock } from './historyClock';
import {
  type Command,
  eligibilityOf,
  latestPaymentLink,
  reduce,
  type SessionEvent,
  type SessionState,
  statusOf,
  type TokenState,
  toView,
} from './reducer';
import { LinkItemCount, LinkSessionStatus } from './searchAttributes';
import {
  type Checked,
  checkItemAddResult,
  checkItemRequest,
  checkItemVerification,
  checkPaymentAccountRequest,
  checkPaymentLinkPublicToken,
  checkSessionFinished,
  REJECTED_PAYLOAD_FIELD,
} from './signalValidation';
import type { CreatedLinkToken, ErrorInfo, ItemMetadata, LinkSessionInput, SessionStatus } from './types';

/** Retries that honour Plaid's rate limits and outages; permanent errors come back as values. */
const plaidRetry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;

const { exchangePublicToken } = proxyActivities<LinkSessionActivities>({
  // Above an attempt's worst case (DB waits ~35 s, the 20 s Plaid call, the ~2 min save of an
  // access token held only in memory, describing the Item): Temporal must not start a second
  // attempt while the first still saves (the lease would hold it back anyway).
  startToCloseTimeout: '4m',
  // The activity heartbeats every 2 s and the worker sends one at most every 5 s: six per
  // timeout, so a loaded machine does not time out a live attempt, while a worker killed
  // mid-exchange is noticed in 30 s (and the exchange retried on another) instead of 4 minutes.
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
// Someone waits on these (the payment Link's button): a few quick attempts, then a clear error.
const { createPaymentLinkToken, createVerificationLinkToken } = proxyActivities<LinkSessionActivities>({
  startToCloseTimeout: '20s',
  retry: { ...plaidRetry, maximumAttempts: 3 },
});
const { fetchLinkSessionResults } = proxyActivities<LinkSessionActivities>({
  startToCloseTimeout: '30s',
  // A failed poll is only a missed look; the next one comes soon.
  retry: { ...plaidRetry, maximumAttempts: 3 },
});

export interface SessionRuntime {
  readonly state: SessionState;
  /** Bumped by every event, so a loop can wait for "anything happened". */
  readonly version: number;
  /** Activities whose result has not come back yet. */
  readonly inFlight: number;
  dispatch(event: SessionEvent): void;
  run(command: Command): void;
  /** One look at `/link/token/get`, as the event it becomes. */
  poll(final: boolean, afterExpiry?: boolean): Promise<SessionEvent>;
  /** Rules 3: one look at the payment Link's `/link/token/get`. */
  pollPaymentLink(linkToken: string): Promise<SessionEvent>;
  publish(): void;
  /** Called after every event (the workflow's scheduler uses it to wake early). */
  onChange(listener: () => void): void;
}

/**
 * An activity result the worker's codec refused (not encrypted by linkflow, or forged: only a
 * client with access to the namespace can complete an activity) arrives as a rejection marker.
 * It becomes a failure of that activity, never data the reducer trusts.
 */
function refusedResults<T>(result: Promise<T>): Promise<T> {
  return result.then((value) => {
    if (value && typeof value === 'object' && REJECTED_PAYLOAD_FIELD in value) {
      const why = String((value as Record<string, unknown>)[REJECTED_PAYLOAD_FIELD]);
      throw ApplicationFailure.nonRetryable(`activity result refused: ${why}`, 'ACTIVITY_RESULT_REJECTED');
    }
    return value;
  });
}

export function createSessionRuntime(
  input: LinkSessionInput,
  initial: SessionState,
  opts: {
    legacy: boolean;
    /** What the search attributes already say (a new run: what its start set). */
    published?: { status: SessionStatus; items: number };
    /** The time the rules see (historyClock.ts); the first version read the activation's time. */
    clock?: HistoryClock;
  },
): SessionRuntime {
  let state = initial;
  let version = 0;
  let inFlight = 0;
  let published: { status: SessionStatus; items: number } | null = opts.published ?? null;
  const listeners: Array<() => void> = [];
  const nowIso = () => new Date().toISOString();
  // What the reducer records and later compares with due times (when it polled, since when it
  // awaits a choice) is read on the session's clock.
  const { clock } = opts;
  const ruleTime = () => (clock ? new Date(clock.now(state)).toISOString() : nowIso());

  const publish = () => {
    const view = toView(state);
    const items = view.items.filter((i) => i.status === 'exchanged').length;
    // The first version upserted on every new Item; an upsert is a history event, so the second
    // upserts only when the status changes (with the count of the moment).
    const changed = opts.legacy
      ? published?.status !== view.status || published.items !== items
      : published?.status !== view.status;
    if (changed) {
      upsertSearchAttributes([
        { key: LinkSessionStatus, value: view.status },
        { key: LinkItemCount, value: items },
      ]);
      published = { status: view.status, items };
    }
    setCurrentDetails(currentDetails(view));
    // Outbound events: deterministic ids, one local activity per change that announces any. The
    // first version never emitted them (its histories replay without).
    if (!opts.legacy && input.emitEvents) emitSessionEvents(input, view, nowIso());
  };

  // A failure for a token already exchanged leaves the Item exchanged (a reducer rule). Histories
  // recorded before that rule let it overwrite the Item, and must replay as they ran. Decided at
  // dispatch, against the state the reducer will see.
  const versioned = (event: SessionEvent): SessionEvent => {
    if (!opts.legacy || event.type !== 'exchangeFailed') return event;
    const token = state.tokens.find((t) => t.publicToken === event.publicToken);
    return token?.status === 'exchanged' && !patched('exchanged-stays-exchanged')
      ? { ...event, legacyOverwrite: true }
      : event;
  };

  const dispatch = (event: SessionEvent) => {
    const next = reduce(state, versioned(event), ruleTime());
    state = next.state;
    version++;
    for (const command of next.commands) run(command);
    publish();
    for (const listener of listeners) listener();
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

  const poll = (final: boolean, afterExpiry = false): Promise<SessionEvent> =>
    refusedResults(fetchLinkSessionResults({ linkToken: input.linkToken })).then(
      (snapshot): SessionEvent => ({
        type: 'polled',
        snapshot,
        at: clock && snapshot.fetchedAt ? latest(snapshot.fetchedAt, ruleTime()) : ruleTime(),
        final,
        ...(afterExpiry && { afterExpiry }),
      }),
      (err): SessionEvent => ({ type: 'pollFailed', error: failureInfo(err), at: ruleTime(), final }),
    );

  const pollPaymentLink = (linkToken: string): Promise<SessionEvent> =>
    refusedResults(fetchLinkSessionResults({ linkToken })).then(
      (snapshot): SessionEvent => ({
        type: 'paymentLinkPolled',
        linkToken,
        snapshot,
        at: snapshot.fetchedAt ? latest(snapshot.fetchedAt, ruleTime()) : ruleTime(),
      }),
      (err): SessionEvent => ({
        type: 'paymentLinkPollFailed',
        linkToken,
        error: failureInfo(err),
        at: ruleTime(),
      }),
    );

  const run = (command: Command) => {
    switch (command.type) {
      case 'exchange': {
        // The exchange describes the Item too (one activity and one workflow task fewer before
        // eligibility). Histories recorded before that ran a separate describeItem for each Item.
        const describe = opts.legacy ? patched('describe-with-exchange') : true;
        const token = state.tokens.find((t) => t.publicToken === command.publicToken);
        return track(
          refusedResults(
            exchangePublicToken({
              linkToken: input.linkToken,
              publicToken: command.publicToken,
              clientUserId: input.clientUserId,
              userId: input.userId,
              ...(describe && { describe: true }),
              ...(state.v3 && token && { duplicateCheck: duplicateCheckOf(input, token) }),
            }),
          ).then(
            (r): SessionEvent =>
              r.ok
                ? {
                    type: 'exchanged',
                    publicToken: command.publicToken,
                    itemId: r.itemId,
                    ...(r.details && { details: r.details }),
                    ...(r.duplicateOf && { duplicateOf: r.duplicateOf }),
                    ...(r.replaces && { replaces: r.replaces }),
                  }
                : r.duplicate && state.v3
                  ? {
                      type: 'duplicateSkipped',
                      publicToken: command.publicToken,
                      of: r.duplicate.of,
                      original: r.duplicate.original,
                      error: r.error,
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
          refusedResults(describeItem({ itemId: command.itemId })).then(
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
      case 'pollPaymentLink':
        return track(pollPaymentLink(command.linkToken));
      case 'setupPayment':
        return track(
          refusedResults(
            setupPayment({
              linkToken: input.linkToken,
              itemId: command.itemId,
              accountId: command.accountId,
              choice: command.choice,
            }),
          ).then(
            (result): SessionEvent => ({ type: 'paymentSucceeded', result }),
            (err): SessionEvent => ({ type: 'paymentFailed', error: failureInfo(err) }),
          ),
        );
    }
  };

  registerHandlers(() => state, dispatch, nowIso, opts.legacy);
  registerRules3Handlers(input, () => state, dispatch, nowIso, ruleTime);

  return {
    get state() {
      return state;
    },
    get version() {
      return version;
    },
    get inFlight() {
      return inFlight;
    },
    dispatch,
    run,
    poll,
    pollPaymentLink,
    publish,
    onChange: (listener) => listeners.push(listener),
  };
}

function registerHandlers(
  current: () => SessionState,
  dispatch: (event: SessionEvent) => void,
  nowIso: () => string,
  legacy: boolean,
): void {
  // A signal is checked before it becomes work: anyone who can signal the workflow could send
  // anything (the codec already refused what the webhook route did not sign). A refused one is
  // recorded in the session's errors. Histories from before the check replay unchecked.
  const checked = <T>(signal: string, check: (raw: unknown) => Checked<T>, raw: unknown): T | null => {
    if (legacy && !patched('validate-signals')) return raw as T;
    const result = check(raw);
    if (result.ok) return result.value;
    dispatch({ type: 'signalRejected', signal, reason: result.reason });
    return null;
  };
  setHandler(itemAddResultSignal, (raw) => {
    const s = checked('itemAddResult', checkItemAddResult, raw);
    if (!s) return;
    dispatch({
      type: 'itemAddResult',
      publicToken: s.public_token,
      linkSessionId: s.link_session_id,
      at: s.received_at,
    });
  });
  setHandler(sessionFinishedSignal, (raw) => {
    const s = checked('sessionFinished', checkSessionFinished, raw);
    if (!s) return;
    dispatch({
      type: 'sessionFinished',
      status: s.status,
      linkSessionId: s.link_session_id,
      publicTokens: s.public_tokens,
      at: s.received_at,
      source: 'session_finished',
    });
  });
  setHandler(getSessionQuery, () => toView(current()));
  setHandler(
    selectPaymentAccountUpdate,
    async ({ account_id }) => {
      dispatch({ type: 'paymentAccountSelected', accountId: account_id, at: nowIso() });
      await condition(() => current().paymentPhase.phase !== 'running');
      return toView(current());
    },
    {
      // Runs before anything is written to history: a refused choice leaves no trace.
      validator: (raw) => {
        const request = checkPaymentAccountRequest(raw);
        if (!request.ok) throw ApplicationFailure.nonRetryable(request.reason, 'MALFORMED_REQUEST');
        const { account_id } = request.value;
        const view = toView(current());
        if (view.status !== 'awaiting_payment_account' || current().paymentPhase.phase !== 'none') {
          throw ApplicationFailure.nonRetryable(
            `session is ${view.status}, not awaiting a payment account`,
            'NOT_AWAITING_PAYMENT_ACCOUNT',
          );
        }
        if (!view.eligible_accounts.some((a) => a.account_id === account_id)) {
          const known = view.ineligible_accounts.find((a) => a.account_id === account_id);
          const pending = view.pending_accounts.find((a) => a.account_id === account_id);
          throw ApplicationFailure.nonRetryable(
            pending
              ? `account ${account_id} is not verified yet (${pending.verification_status})`
              : known
                ? `account ${account_id} cannot move money (${known.verification_status ?? known.reason})`
                : `account ${account_id} is not an account of this session`,
            'ACCOUNT_NOT_ELIGIBLE',
          );
        }
      },
    },
  );
}

/** What the exchange compares with the user's Items (rules 3): Link's metadata when known. */
function duplicateCheckOf(
  input: LinkSessionInput,
  token: TokenState,
): { resultsLinkToken: string; metadata: ItemMetadata | null; needs?: string[] } {
  return {
    resultsLinkToken: token.resultsLinkToken ?? input.linkToken,
    // The payment Link exists to add an account that can move money: an Item the user already has
    // without auth does not make it redundant.
    ...(token.origin === 'payment_link' && { needs: ['auth'] }),
    metadata:
      token.institution && token.accounts.length > 0
        ? { institution: token.institution, accounts: token.accounts }
        : null,
  };
}

/** Failure types of the rules-3 updates' validators (the API maps them to HTTP statuses). */
export const PAYMENT_LINK_UNAVAILABLE = 'PAYMENT_LINK_UNAVAILABLE';
export const ITEM_NOT_IN_SESSION = 'ITEM_NOT_IN_SESSION';
export const NOT_AWAITING_VERIFICATION = 'NOT_AWAITING_VERIFICATION';

/** A link token is handed out again while it has this long to live (a user may take a while in Link). */
const REUSE_LINK_TOKEN_FOR_MS = 30 * 60_000;

function registerRules3Handlers(
  input: LinkSessionInput,
  current: () => SessionState,
  dispatch: (event: SessionEvent) => void,
  nowIso: () => string,
  ruleTime: () => string,
): void {
  const refuse = (message: string, type: string) => {
    throw ApplicationFailure.nonRetryable(message, type);
  };
  const rules3 = () => {
    if (!current().v3)
      refuse(
        'this session was started before payment Links existed; start a new session',
        PAYMENT_LINK_UNAVAILABLE,
      );
  };
  const request = <T>(checked: Checked<T>): T => {
    if (!checked.ok) refuse(checked.reason, 'MALFORMED_REQUEST');
    return (checked as { ok: true; value: T }).value;
  };
  const sessionItem = (itemId: string) => {
    const item = current().items.find((i) => i.itemId === itemId && !i.borrowed && i.details);
    if (!item) refuse(`item ${itemId} is not an Item of this session`, ITEM_NOT_IN_SESSION);
    return item;
  };

  // The AUTH webhook: read the Item again. An Item of another session is not this one's concern.
  setHandler(itemVerificationSignal, (raw) => {
    const checked = checkItemVerification(raw);
    if (!checked.ok)
      return dispatch({ type: 'signalRejected', signal: 'itemVerification', reason: checked.reason });
    if (!current().v3 || !current().items.some((i) => i.itemId === checked.value.item_id)) return;
    dispatch({ type: 'itemRefreshWanted', itemId: checked.value.item_id });
  });

  let creatingPaymentLink: Promise<CreatedLinkToken> | null = null;
  setHandler(
    createPaymentLinkUpdate,
    async () => {
      const live = latestPaymentLink(current());
      if (live && Date.parse(live.expiration) - Date.now() > REUSE_LINK_TOKEN_FOR_MS) {
        return { link_token: live.linkToken, expiration: live.expiration };
      }
      creatingPaymentLink ??= createPaymentLinkToken({
        sessionLinkToken: input.linkToken,
        clientUserId: input.clientUserId,
        userId: input.userId,
        product: input.payment?.product === 'transfer' ? 'transfer' : 'auth',
      })
        .then((created) => {
          dispatch({
            type: 'paymentLinkCreated',
            linkToken: created.link_token,
            expiration: created.expiration,
            at: ruleTime(),
          });
          return created;
        })
        .finally(() => {
          creatingPaymentLink = null;
        });
      return creatingPaymentLink;
    },
    {
      validator: () => {
        rules3();
        const state = current();
        if (!state.payment) refuse('the session asked for no payment product', PAYMENT_LINK_UNAVAILABLE);
        if (statusOf(state) !== 'awaiting_payment_account' || state.paymentPhase.phase !== 'none')
          refuse(
            `session is ${statusOf(state)}, not awaiting a payment account`,
            'NOT_AWAITING_PAYMENT_ACCOUNT',
          );
      },
    },
  );

  setHandler(
    addPaymentLinkPublicTokenUpdate,
    (raw) => {
      const { public_token } = request(checkPaymentLinkPublicToken(raw));
      dispatch({ type: 'paymentLinkToken', publicToken: public_token, at: nowIso() });
    },
    {
      validator: (raw) => {
        rules3();
        request(checkPaymentLinkPublicToken(raw));
        if (!latestPaymentLink(current()))
          refuse('the session has no payment Link: create one first', PAYMENT_LINK_UNAVAILABLE);
      },
    },
  );

  setHandler(
    createVerificationLinkUpdate,
    async (raw) => {
      const { item_id } = request(checkItemRequest(raw));
      const created = await createVerificationLinkToken({
        sessionLinkToken: input.linkToken,
        clientUserId: input.clientUserId,
        userId: input.userId,
        itemId: item_id,
      });
      dispatch({
        type: 'verificationLinkCreated',
        itemId: item_id,
        linkToken: created.link_token,
        expiration: created.expiration,
        at: ruleTime(),
      });
      return created;
    },
    {
      validator: (raw) => {
        rules3();
        const { item_id } = request(checkItemRequest(raw));
        sessionItem(item_id);
        const manual = eligibilityOf(current()).pending.some(
          (a) => a.item_id === item_id && a.verification_status === 'pending_manual_verification',
        );
        if (!manual)
          refuse(
            `item ${item_id} has no account awaiting manual micro-deposit verification`,
            NOT_AWAITING_VERIFICATION,
          );
      },
    },
  );

  setHandler(
    refreshItemUpdate,
    (raw) => {
      const { item_id } = request(checkItemRequest(raw));
      dispatch({ type: 'itemRefreshWanted', itemId: item_id });
    },
    {
      validator: (raw) => {
        rules3();
        sessionItem(request(checkItemRequest(raw)).item_id);
      },
    },
  );
}

/** Commands for work a carried state had decided on but whose result never arrived. */
export function resumeCommands(state: SessionState): Command[] {
  const commands: Command[] = [];
  for (const t of state.tokens)
    if (t.status === 'exchanging') commands.push({ type: 'exchange', publicToken: t.publicToken });
  for (const i of state.items) if (i.describing) commands.push({ type: 'describe', itemId: i.itemId });
  if (state.reconcile === 'pending') commands.push({ type: 'reconcile' });
  return commands;
}

/** The later of two ISO times (a malformed one loses). */
function latest(a: string, b: string): string {
  const ta = Date.parse(a);
  return Number.isFinite(ta) && ta > Date.parse(b) ? new Date(ta).toISOString() : b;
}

export function failureInfo(err: unknown): ErrorInfo {
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
