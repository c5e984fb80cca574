/**
 * The rules of a Link session as a pure function: (state, event) -> (state, commands).
 *
 * The workflow feeds it everything it learns (webhook signals, polls of `/link/token/get`,
 * activity results, the user's choice, timers) and runs the commands it returns. Keeping the
 * rules here means they are unit-tested without Temporal and the workflow file stays short.
 *
 * Invariants the reducer guarantees, whatever the order or repetition of events:
 * - a public token is one token, however many sources report it;
 * - each token is handed to `exchange` exactly once and ends `exchanged` or `failed` with a reason;
 * - each exchanged Item is described once; the payment step runs at most once.
 */
import { eligiblePaymentAccounts } from './eligibility';
import type {
  AccountMeta,
  ErrorInfo,
  Institution,
  ItemDetails,
  LinkSessionInput,
  LinkTokenSnapshot,
  PaymentChoice,
  PaymentSetupResult,
  SessionStatus,
  SessionView,
  TokenSource,
} from './types';

export type TokenStatus = 'pending' | 'exchanging' | 'exchanged' | 'failed';

export interface TokenState {
  publicToken: string;
  sources: TokenSource[];
  linkSessionId: string | null;
  firstSeenAt: string;
  /** Link's metadata for the Item (from `/link/token/get`), when known. */
  institution: Institution | null;
  accounts: AccountMeta[];
  status: TokenStatus;
  itemId: string | null;
  error: ErrorInfo | null;
}

export interface ItemState {
  itemId: string;
  /** null until `describeItem` answered. */
  details: ItemDetails | null;
  describing: boolean;
  error: ErrorInfo | null;
}

export type PaymentPhase =
  | { phase: 'none' }
  | { phase: 'running'; accountId: string; itemId: string; selectedAt: string }
  | { phase: 'done'; accountId: string; itemId: string; result: PaymentSetupResult }
  | { phase: 'failed'; accountId: string; itemId: string; error: ErrorInfo }
  | { phase: 'timed_out' };

export interface SessionState {
  linkToken: string;
  clientUserId: string;
  userId: string;
  createdAt: string;
  payment: PaymentChoice | null;
  tokens: TokenState[];
  items: ItemState[];
  linkSessionIds: string[];
  /** Set once any Link session of this token finished (webhook, poll, or the window closing). */
  finished: null | { at: string; status: 'SUCCESS' | 'EXITED' };
  /** 'pending' once the final `/link/token/get` is asked for, 'done' when it answered. */
  reconcile: 'not_started' | 'pending' | 'done';
  /** Set when nothing happened inside the window. */
  expired: boolean;
  lastWebhookAt: string | null;
  polling: { active: boolean; polls: number; lastPolledAt: string | null };
  paymentPhase: PaymentPhase;
  awaitingSince: string | null;
  errors: ErrorInfo[];
}

export type SessionEvent =
  | { type: 'itemAddResult'; publicToken: string; linkSessionId: string | null; at: string }
  | {
      type: 'sessionFinished';
      status: 'SUCCESS' | 'EXITED';
      linkSessionId: string | null;
      publicTokens: string[];
      at: string;
      source: TokenSource;
    }
  | { type: 'polled'; snapshot: LinkTokenSnapshot; at: string; final: boolean }
  | { type: 'pollFailed'; error: ErrorInfo; at: string; final: boolean }
  | { type: 'pollingChanged'; active: boolean }
  | { type: 'exchanged'; publicToken: string; itemId: string; details?: ItemDetails }
  | {
      type: 'exchangeFailed';
      publicToken: string;
      error: ErrorInfo;
      /** Only for histories recorded before the rule below (see linkSession.ts): the old rule. */
      legacyOverwrite?: true;
    }
  | { type: 'itemDescribed'; details: ItemDetails }
  | { type: 'describeFailed'; itemId: string; error: ErrorInfo }
  | { type: 'paymentAccountSelected'; accountId: string; at: string }
  | { type: 'paymentSucceeded'; result: PaymentSetupResult }
  | { type: 'paymentFailed'; error: ErrorInfo }
  | { type: 'windowClosed'; at: string }
  | { type: 'selectionTimedOut'; at: string }
  /** A signal refused by signalValidation.ts: recorded, never turned into work. */
  | { type: 'signalRejected'; signal: string; reason: string };

export type Command =
  | { type: 'exchange'; publicToken: string }
  | { type: 'describe'; itemId: string }
  | { type: 'reconcile' }
  | { type: 'setupPayment'; itemId: string; accountId: string; choice: PaymentChoice };

export interface Transition {
  state: SessionState;
  commands: Command[];
}

const MAX_ERRORS = 20;

export function initialState(input: LinkSessionInput): SessionState {
  return {
    linkToken: input.linkToken,
    clientUserId: input.clientUserId,
    userId: input.userId,
    createdAt: input.createdAt,
    payment: input.payment,
    tokens: [],
    items: [],
    linkSessionIds: [],
    finished: null,
    reconcile: 'not_started',
    expired: false,
    lastWebhookAt: null,
    polling: { active: false, polls: 0, lastPolledAt: null },
    paymentPhase: { phase: 'none' },
    awaitingSince: null,
    errors: [],
  };
}

// ---- small immutable helpers ----

function addLinkSession(state: SessionState, id: string | null): SessionState {
  if (!id || state.linkSessionIds.includes(id)) return state;
  return { ...state, linkSessionIds: [...state.linkSessionIds, id] };
}

function addError(state: SessionState, error: ErrorInfo): SessionState {
  const duplicate = state.errors.some((e) => e.code === error.code && e.message === error.message);
  if (duplicate) return state;
  return { ...state, errors: [...state.errors, error].slice(-MAX_ERRORS) };
}

function updateToken(state: SessionState, publicToken: string, patch: Partial<TokenState>): SessionState {
  return {
    ...state,
    tokens: state.tokens.map((t) => (t.publicToken === publicToken ? { ...t, ...patch } : t)),
  };
}

function updateItem(state: SessionState, itemId: string, patch: Partial<ItemState>): SessionState {
  return { ...state, items: state.items.map((i) => (i.itemId === itemId ? { ...i, ...patch } : i)) };
}

interface SeenToken {
  publicToken: string;
  source: TokenSource;
  linkSessionId: string | null;
  at: string;
  institution?: Institution | null;
  accounts?: AccountMeta[];
}

/** Learns of a token from any source; a known token only gains metadata. */
function seeToken(state: SessionState, seen: SeenToken): SessionState {
  const known = state.tokens.find((t) => t.publicToken === seen.publicToken);
  if (known) {
    return updateToken(state, seen.publicToken, {
      sources: known.sources.includes(seen.source) ? known.sources : [...known.sources, seen.source],
      linkSessionId: known.linkSessionId ?? seen.linkSessionId,
      institution: known.institution ?? seen.institution ?? null,
      accounts: known.accounts.length > 0 ? known.accounts : (seen.accounts ?? []),
    });
  }
  const token: TokenState = {
    publicToken: seen.publicToken,
    sources: [seen.source],
    linkSessionId: seen.linkSessionId,
    firstSeenAt: seen.at,
    institution: seen.institution ?? null,
    accounts: seen.accounts ?? [],
    status: 'pending',
    itemId: null,
    error: null,
  };
  return { ...state, tokens: [...state.tokens, token] };
}

function markFinished(state: SessionState, status: 'SUCCESS' | 'EXITED', at: string): SessionState {
  if (state.finished) {
    // A later SUCCESS (another Link session on the same token) wins over an earlier EXITED.
    return status === 'SUCCESS' && state.finished.status === 'EXITED'
      ? { ...state, finished: { ...state.finished, status } }
      : state;
  }
  return { ...state, finished: { at, status } };
}

// ---- the reducer ----

/** `now` is the workflow's (deterministic) clock, used for bookkeeping such as awaitingSince. */
export function reduce(state: SessionState, event: SessionEvent, now: string): Transition {
  return followUp(state, apply(state, event), now);
}

function apply(state: SessionState, event: SessionEvent): SessionState {
  switch (event.type) {
    case 'itemAddResult': {
      const s = { ...addLinkSession(state, event.linkSessionId), lastWebhookAt: event.at };
      return seeToken(s, { ...event, source: 'webhook' });
    }
    case 'sessionFinished': {
      let s = addLinkSession(state, event.linkSessionId);
      if (event.source === 'webhook') s = { ...s, lastWebhookAt: event.at };
      for (const publicToken of event.publicTokens) {
        s = seeToken(s, {
          publicToken,
          source: event.source,
          linkSessionId: event.linkSessionId,
          at: event.at,
        });
      }
      return markFinished(s, event.status, event.at);
    }
    case 'polled': {
      let s: SessionState = {
        ...state,
        polling: { ...state.polling, polls: state.polling.polls + 1, lastPolledAt: event.at },
        reconcile: event.final ? 'done' : state.reconcile,
      };
      for (const session of event.snapshot.sessions) {
        s = addLinkSession(s, session.linkSessionId);
        for (const item of session.items) {
          s = seeToken(s, {
            publicToken: item.publicToken,
            source: 'poll',
            linkSessionId: session.linkSessionId,
            at: event.at,
            institution: item.institution,
            accounts: item.accounts,
          });
        }
        if (session.finishedAt) {
          const status = session.exited && session.items.length === 0 ? 'EXITED' : 'SUCCESS';
          s = markFinished(s, status, session.finishedAt);
        }
      }
      return s;
    }
    case 'pollFailed': {
      const s: SessionState = {
        ...state,
        polling: { ...state.polling, polls: state.polling.polls + 1, lastPolledAt: event.at },
        reconcile: event.final ? 'done' : state.reconcile,
      };
      return addError(s, event.error);
    }
    case 'pollingChanged':
      return { ...state, polling: { ...state.polling, active: event.active } };
    case 'exchanged': {
      const s = updateToken(state, event.publicToken, {
        status: 'exchanged',
        itemId: event.itemId,
        error: null,
      });
      const known = s.items.find((i) => i.itemId === event.itemId);
      if (known) {
        return event.details && !known.details
          ? updateItem(s, event.itemId, { details: event.details, describing: false, error: null })
          : s;
      }
      // Details that came with the exchange make the Item described at once (no describe command).
      const item = { itemId: event.itemId, details: event.details ?? null, describing: false, error: null };
      return { ...s, items: [...s.items, item] };
    }
    case 'exchangeFailed': {
      // An Item once exchanged stays exchanged: its access token is in the store. A later failure
      // for the same public token can only come from a second attempt (which Plaid refuses as
      // INVALID_PUBLIC_TOKEN) and must not turn a linked Item into a lost one.
      const token = state.tokens.find((t) => t.publicToken === event.publicToken);
      if (token?.status === 'exchanged' && !event.legacyOverwrite) return state;
      return addError(
        updateToken(state, event.publicToken, { status: 'failed', error: event.error }),
        event.error,
      );
    }
    case 'itemDescribed':
      return updateItem(state, event.details.itemId, {
        details: event.details,
        describing: false,
        error: null,
      });
    case 'describeFailed': {
      // The Item is kept (its access token is safe in the store) but offers no payment account.
      const s = updateItem(state, event.itemId, { describing: false, error: event.error });
      return addError(s, event.error);
    }
    case 'paymentAccountSelected': {
      const choice = eligiblePaymentAccounts(describedItems(state)).eligible.find(
        (a) => a.account_id === event.accountId,
      );
      if (!choice || state.paymentPhase.phase !== 'none' || statusOf(state) !== 'awaiting_payment_account') {
        return state; // the update's validator refuses these before they reach history
      }
      return {
        ...state,
        paymentPhase: {
          phase: 'running',
          accountId: choice.account_id,
          itemId: choice.item_id,
          selectedAt: event.at,
        },
      };
    }
    case 'paymentSucceeded':
      if (state.paymentPhase.phase !== 'running') return state;
      return {
        ...state,
        paymentPhase: {
          phase: 'done',
          accountId: state.paymentPhase.accountId,
          itemId: state.paymentPhase.itemId,
          result: event.result,
        },
      };
    case 'paymentFailed':
      if (state.paymentPhase.phase !== 'running') return state;
      return addError(
        {
          ...state,
          paymentPhase: {
            phase: 'failed',
            accountId: state.paymentPhase.accountId,
            itemId: state.paymentPhase.itemId,
            error: event.error,
          },
        },
        event.error,
      );
    case 'windowClosed': {
      if (state.tokens.length === 0 && !state.finished) return { ...state, expired: true };
      // Items arrived but Plaid never reported the end: settle with what we have.
      const s = state.finished ? state : markFinished(state, 'SUCCESS', event.at);
      return { ...s, reconcile: s.reconcile === 'pending' ? s.reconcile : 'done' };
    }
    case 'signalRejected':
      return addError(state, {
        code: 'SIGNAL_REJECTED',
        message: `${event.signal} refused: ${event.reason}`,
      });
    case 'selectionTimedOut':
      if (state.paymentPhase.phase !== 'none') return state;
      return addError(
        { ...state, paymentPhase: { phase: 'timed_out' } },
        { code: 'PAYMENT_ACCOUNT_SELECTION_TIMEOUT', message: 'no payment account was chosen in time' },
      );
  }
}

/** Derives the work the new state calls for, marking it in flight so it is asked for only once. */
function followUp(before: SessionState, after: SessionState, now: string): Transition {
  const commands: Command[] = [];
  let s = after;
  for (const token of s.tokens) {
    if (token.status === 'pending') {
      commands.push({ type: 'exchange', publicToken: token.publicToken });
      s = updateToken(s, token.publicToken, { status: 'exchanging' });
    }
  }
  for (const item of s.items) {
    if (!item.details && !item.describing && !item.error) {
      commands.push({ type: 'describe', itemId: item.itemId });
      s = updateItem(s, item.itemId, { describing: true });
    }
  }
  if (s.finished && s.reconcile === 'not_started' && !s.expired) {
    commands.push({ type: 'reconcile' });
    s = { ...s, reconcile: 'pending' };
  }
  // The payment step starts on the one transition into 'running', never again.
  if (s.paymentPhase.phase === 'running' && before.paymentPhase.phase !== 'running' && s.payment) {
    commands.push({
      type: 'setupPayment',
      itemId: s.paymentPhase.itemId,
      accountId: s.paymentPhase.accountId,
      choice: s.payment,
    });
  }
  if (!s.awaitingSince && statusOf(s) === 'awaiting_payment_account') s = { ...s, awaitingSince: now };
  return { state: s, commands };
}

// ---- derived views ----

export function describedItems(state: SessionState): ItemDetails[] {
  return state.items.flatMap((i) => (i.details ? [i.details] : []));
}

function settled(state: SessionState): boolean {
  return (
    state.tokens.every((t) => t.status === 'exchanged' || t.status === 'failed') &&
    state.items.every((i) => i.details !== null || i.error !== null) &&
    state.reconcile === 'done'
  );
}

export function statusOf(state: SessionState): SessionStatus {
  if (state.expired) return 'expired';
  if (!state.finished) return state.tokens.length === 0 ? 'waiting_for_user' : 'linking';
  if (state.tokens.length === 0) return state.reconcile === 'done' ? 'exited' : 'exchanging';
  if (!settled(state)) return 'exchanging';
  if (state.tokens.every((t) => t.status === 'failed')) return 'failed';
  if (!state.payment) return 'completed';
  switch (state.paymentPhase.phase) {
    case 'done':
    case 'timed_out':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'running':
      return 'awaiting_payment_account';
    case 'none':
      return eligiblePaymentAccounts(describedItems(state)).eligible.length > 0
        ? 'awaiting_payment_account'
        : 'completed';
  }
}

export function isTerminal(status: SessionStatus): boolean {
  return status === 'completed' || status === 'exited' || status === 'expired' || status === 'failed';
}

export function toView(state: SessionState): SessionView {
  const status = statusOf(state);
  const described = new Map(describedItems(state).map((d) => [d.itemId, d]));
  const items = state.tokens
    .filter((t) => t.status === 'exchanged' || t.status === 'failed')
    .map((t) => {
      const details = t.itemId ? described.get(t.itemId) : undefined;
      const institution = details?.institution ?? t.institution ?? { institution_id: null, name: null };
      const base = {
        item_id: t.itemId,
        institution,
        accounts: details?.accounts ?? t.accounts,
        status: t.status as 'exchanged' | 'failed',
      };
      return t.error ? { ...base, error: { code: t.error.code, message: t.error.message } } : base;
    });
  const { eligible, ineligible } = eligiblePaymentAccounts([...described.values()]);
  const phase = state.paymentPhase;
  const errors =
    state.payment &&
    settled(state) &&
    eligible.length === 0 &&
    state.tokens.some((t) => t.status === 'exchanged')
      ? [
          ...state.errors,
          {
            code: 'NO_ELIGIBLE_ACCOUNTS',
            message: 'no checking or savings account on an Item with auth; no payment account can be chosen',
          },
        ]
      : state.errors;
  return {
    session_id: state.linkToken,
    client_user_id: state.clientUserId,
    user_id: state.userId,
    status,
    created_at: state.createdAt,
    finished_at: state.finished?.at ?? null,
    link_session_ids: state.linkSessionIds,
    items,
    eligible_accounts: eligible,
    ineligible_accounts: ineligible,
    payment_account:
      phase.phase === 'done'
        ? {
            account_id: phase.accountId,
            item_id: phase.itemId,
            product: phase.result.product,
            result: phase.result.result,
          }
        : null,
    polling: {
      active: state.polling.active,
      polls: state.polling.polls,
      last_polled_at: state.polling.lastPolledAt,
    },
    errors,
  };
}
