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
import { type Eligibility, eligiblePaymentAccounts, type ItemForEligibility } from './eligibility';
import type {
  AccountMeta,
  ErrorInfo,
  Institution,
  ItemDetails,
  ItemView,
  LinkSessionInput,
  LinkTokenSnapshot,
  PaymentChoice,
  PaymentSetupResult,
  PendingAccountView,
  SessionStatus,
  SessionView,
  TokenSource,
} from './types';

/**
 * `outcome_unknown`: the exchange request may have reached Plaid but no answer came back, and a
 * retry could not tell (Plaid refuses a second exchange of a token). Never shown as a failure.
 */
export type TokenStatus =
  | 'pending'
  | 'exchanging'
  | 'exchanged'
  | 'failed'
  | 'outcome_unknown'
  /** Rules 3: not exchanged, the user already has this Item (`duplicateOf`). */
  | 'duplicate';

/** The code an exchange whose outcome is unknown ends with (see exchangePublicToken). */
export const EXCHANGE_OUTCOME_UNKNOWN = 'EXCHANGE_OUTCOME_UNKNOWN';

/** One Link session Plaid ran with this link token (a token can open Link several times). */
export interface LinkSessionState {
  id: string;
  /** null while the user may still add Items in it. */
  finishedAt: string | null;
  status: 'SUCCESS' | 'EXITED' | null;
}

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
  /** Rules 3: the token came from the session's payment Link (`resultsLinkToken` is that link token). */
  origin?: 'payment_link';
  resultsLinkToken?: string;
  duplicateOf?: string;
  replaces?: string;
}

export interface ItemState {
  itemId: string;
  /** null until `describeItem` answered. */
  details: ItemDetails | null;
  describing: boolean;
  error: ErrorInfo | null;
  /** Rules 3: the user's Item from an earlier session that a duplicate token pointed to. */
  borrowed?: true;
  /** Rules 3: when an account of the Item was first seen pending verification. */
  pendingSince?: string;
  /** Rules 3: when `/accounts/get` was last read for it (a refresh while verification is pending). */
  refreshedAt?: string;
  /** Rules 3: a webhook or the front end said its verification may have changed: read it again. */
  refreshWanted?: true;
}

/** Rules 3: a link token made for the payment step (single-Item, non-credential Auth flows). */
export interface PaymentLinkState {
  linkToken: string;
  expiration: string;
  createdAt: string;
  lastPolledAt: string | null;
  /** `/link/token/get` answered after the token expired: nothing more can come from it. */
  lookedAfterExpiry: boolean;
}

/** Rules 3: an update-mode link token for manual micro-deposit verification of an Item. */
export interface VerificationLinkState {
  itemId: string;
  linkToken: string;
  expiration: string;
  createdAt: string;
}

export type PaymentPhase =
  | { phase: 'none' }
  | { phase: 'running'; accountId: string; itemId: string; selectedAt: string }
  | { phase: 'done'; accountId: string; itemId: string; result: PaymentSetupResult }
  | { phase: 'failed'; accountId: string; itemId: string; error: ErrorInfo }
  | { phase: 'timed_out' }
  /** Rules 3: the only account that could move money failed or let lapse its verification. */
  | { phase: 'unverified'; error: ErrorInfo };

export interface SessionState {
  /**
   * Which rules this state follows. Absent: the first rules (histories recorded before the
   * session outlived its first Link session replay with them). 2: every Link session of the
   * token is tracked, the session stays open while the token can produce Items, the final look
   * is retried until it succeeds.
   */
  rules?: 2;
  /** Rules 2: every Link session seen, in order. */
  linkSessions?: LinkSessionState[];
  /**
   * Rules 2: `/link/token/get` answered after the link token expired, so no Link session can
   * start any more and every one it showed is known.
   */
  lookedAfterExpiry?: boolean;
  /**
   * Rules 3 (patch `payment-link-and-verification`): the payment Link, account verification and
   * duplicate Items. Absent: the session follows rules 2 exactly as before.
   */
  v3?: true;
  paymentLinks?: PaymentLinkState[];
  verificationLinks?: VerificationLinkState[];
  /** Rules 3: when an account first became selectable (the selection timeout counts from it). */
  selectableSince?: string;
  /** Rules 2: what an earlier run of this session had, when a late webhook reopened it. */
  prior?: { items: ItemView[]; paymentAccount: SessionView['payment_account'] };
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
  /**
   * 'pending' once the final `/link/token/get` is asked for, 'done' when it answered; rules 2:
   * 'failed' when it could not be read (the workflow asks again: a failed look is not an answer).
   */
  reconcile: 'not_started' | 'pending' | 'failed' | 'done';
  /** Set when nothing happened inside the window. */
  expired: boolean;
  lastWebhookAt: string | null;
  polling: {
    active: boolean;
    polls: number;
    lastPolledAt: string | null;
    /** Rules 2: polls in a row that showed nothing new (the backoff), carried across runs. */
    unchanged?: number;
  };
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
  | {
      type: 'polled';
      snapshot: LinkTokenSnapshot;
      at: string;
      final: boolean;
      /** Rules 2: the look taken once the link token expired. */
      afterExpiry?: boolean;
    }
  | { type: 'pollFailed'; error: ErrorInfo; at: string; final: boolean }
  | { type: 'pollingChanged'; active: boolean }
  | {
      type: 'exchanged';
      publicToken: string;
      itemId: string;
      details?: ItemDetails;
      duplicateOf?: string;
      replaces?: string;
    }
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
  /** Rules 2: the final look failed earlier; ask `/link/token/get` again. */
  | { type: 'lookAgain' }
  /** Rules 3: an Item the user already had; its token was not exchanged. */
  | {
      type: 'duplicateSkipped';
      publicToken: string;
      of: string;
      original: ItemDetails | null;
      error: ErrorInfo;
    }
  | { type: 'paymentLinkCreated'; linkToken: string; expiration: string; at: string }
  | { type: 'paymentLinkToken'; publicToken: string; at: string }
  | { type: 'paymentLinkPolled'; linkToken: string; snapshot: LinkTokenSnapshot; at: string }
  | { type: 'paymentLinkPollFailed'; linkToken: string; error: ErrorInfo; at: string }
  | { type: 'verificationLinkCreated'; itemId: string; linkToken: string; expiration: string; at: string }
  /** An AUTH webhook, the front end after update mode, or the refresh timer: read the Item again. */
  | { type: 'itemRefreshWanted'; itemId: string }
  /** A signal refused by signalValidation.ts: recorded, never turned into work. */
  | { type: 'signalRejected'; signal: string; reason: string };

export type Command =
  | { type: 'exchange'; publicToken: string }
  | { type: 'describe'; itemId: string }
  | { type: 'reconcile' }
  /** Rules 3: one look at the payment Link's `/link/token/get`. */
  | { type: 'pollPaymentLink'; linkToken: string }
  | { type: 'setupPayment'; itemId: string; accountId: string; choice: PaymentChoice };

export interface Transition {
  state: SessionState;
  commands: Command[];
}

const MAX_ERRORS = 20;

/** A new session follows the current rules; `rules: 1` only for the legacy workflow path. */
export function initialState(input: LinkSessionInput, rules: 1 | 2 = 2): SessionState {
  return {
    ...(rules === 2 && { rules: 2 as const, linkSessions: [] }),
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

/** Rules 3 on top of a state (a new run under the patch, or a state carried from one). */
export function withRules3(state: SessionState): SessionState {
  if (state.v3) return state;
  return { ...state, v3: true, paymentLinks: state.paymentLinks ?? [], verificationLinks: [] };
}

// ---- small immutable helpers ----

function addLinkSession(state: SessionState, id: string | null): SessionState {
  if (!id || state.linkSessionIds.includes(id)) return state;
  const linkSessions = state.linkSessions && [...state.linkSessions, { id, finishedAt: null, status: null }];
  return { ...state, linkSessionIds: [...state.linkSessionIds, id], ...(linkSessions && { linkSessions }) };
}

/** Rules 2: records that one Link session finished (the first report of it wins). */
function finishLinkSession(
  state: SessionState,
  id: string | null,
  status: 'SUCCESS' | 'EXITED',
  at: string,
): SessionState {
  if (!state.linkSessions || !id) return state;
  const s = addLinkSession(state, id);
  return {
    ...s,
    linkSessions: (s.linkSessions ?? []).map((l) =>
      l.id === id && !l.finishedAt ? { ...l, finishedAt: at, status } : l,
    ),
  };
}

/** Rules 2: a Link session that may still add Items (seen, not finished). */
export function openLinkSessions(state: SessionState): LinkSessionState[] {
  return (state.linkSessions ?? []).filter((l) => !l.finishedAt);
}

/** When the latest known Link session finished (rules 2), or the first finish (rules 1). */
export function lastFinishedAt(state: SessionState): string | null {
  const times = (state.linkSessions ?? []).flatMap((l) => (l.finishedAt ? [Date.parse(l.finishedAt)] : []));
  if (times.length === 0) return state.finished?.at ?? null;
  return new Date(Math.max(...times)).toISOString();
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
  origin?: 'payment_link';
  resultsLinkToken?: string;
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
    ...(seen.origin && { origin: seen.origin }),
    ...(seen.resultsLinkToken && { resultsLinkToken: seen.resultsLinkToken }),
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
      s = finishLinkSession(s, event.linkSessionId, event.status, event.at);
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
          s = finishLinkSession(s, session.linkSessionId, status, session.finishedAt);
          s = markFinished(s, status, session.finishedAt);
        }
      }
      if (s.rules !== 2) return s;
      // The polling backoff: polls in a row that showed nothing new.
      const unchanged = progressMark(s) === progressMark(state) ? (state.polling.unchanged ?? 0) + 1 : 0;
      return {
        ...s,
        polling: { ...s.polling, unchanged },
        ...(event.afterExpiry && { lookedAfterExpiry: true }),
      };
    }
    case 'pollFailed': {
      // Rules 1 counted a failed final look as done; rules 2 asks again (it is not Plaid's answer).
      const afterFinal = state.rules === 2 ? 'failed' : 'done';
      const s: SessionState = {
        ...state,
        polling: { ...state.polling, polls: state.polling.polls + 1, lastPolledAt: event.at },
        reconcile: event.final ? afterFinal : state.reconcile,
      };
      return addError(s, event.error);
    }
    case 'pollingChanged':
      return {
        ...state,
        polling: { ...state.polling, active: event.active, ...(state.rules === 2 && { unchanged: 0 }) },
      };
    case 'lookAgain':
      return state.reconcile === 'failed' ? { ...state, reconcile: 'not_started' } : state;
    case 'exchanged': {
      const s = updateToken(state, event.publicToken, {
        status: 'exchanged',
        itemId: event.itemId,
        error: null,
        ...(event.duplicateOf && { duplicateOf: event.duplicateOf }),
        ...(event.replaces && { replaces: event.replaces }),
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
      if (token?.status === 'duplicate') return state;
      const status = event.error.code === EXCHANGE_OUTCOME_UNKNOWN ? 'outcome_unknown' : 'failed';
      return addError(updateToken(state, event.publicToken, { status, error: event.error }), event.error);
    }
    case 'itemDescribed':
      return updateItem(state, event.details.itemId, {
        details: event.details,
        describing: false,
        error: null,
      });
    case 'duplicateSkipped': {
      const token = state.tokens.find((t) => t.publicToken === event.publicToken);
      if (token?.status === 'exchanged') return state;
      let s = updateToken(state, event.publicToken, {
        status: 'duplicate',
        duplicateOf: event.of,
        error: event.error,
      });
      // The original's accounts can be chosen in this session too (the store has its access
      // token); one the store had not described yet is described here.
      if (!s.items.some((i) => i.itemId === event.of)) {
        const item: ItemState = {
          itemId: event.of,
          details: event.original,
          describing: false,
          error: null,
          borrowed: true,
        };
        s = { ...s, items: [...s.items, item] };
      }
      return s;
    }
    case 'paymentLinkCreated': {
      const links = state.paymentLinks ?? [];
      if (links.some((l) => l.linkToken === event.linkToken)) return state;
      const link: PaymentLinkState = {
        linkToken: event.linkToken,
        expiration: event.expiration,
        createdAt: event.at,
        lastPolledAt: null,
        lookedAfterExpiry: false,
      };
      return { ...state, paymentLinks: [...links, link] };
    }
    case 'paymentLinkToken': {
      const link = latestPaymentLink(state);
      return seeToken(state, {
        publicToken: event.publicToken,
        source: 'front_end',
        linkSessionId: null,
        at: event.at,
        origin: 'payment_link',
        ...(link && { resultsLinkToken: link.linkToken }),
      });
    }
    case 'paymentLinkPolled': {
      let s = updatePaymentLink(state, event.linkToken, {
        lastPolledAt: event.at,
        ...(Date.parse(event.at) >= Date.parse(paymentLinkOf(state, event.linkToken)?.expiration ?? '') && {
          lookedAfterExpiry: true,
        }),
      });
      for (const session of event.snapshot.sessions) {
        for (const item of session.items) {
          s = seeToken(s, {
            publicToken: item.publicToken,
            source: 'poll',
            linkSessionId: null,
            at: event.at,
            institution: item.institution,
            accounts: item.accounts,
            origin: 'payment_link',
            resultsLinkToken: event.linkToken,
          });
        }
      }
      return s;
    }
    case 'paymentLinkPollFailed':
      return addError(updatePaymentLink(state, event.linkToken, { lastPolledAt: event.at }), event.error);
    case 'verificationLinkCreated': {
      const links = (state.verificationLinks ?? []).filter((l) => l.linkToken !== event.linkToken);
      const link = {
        itemId: event.itemId,
        linkToken: event.linkToken,
        expiration: event.expiration,
        createdAt: event.at,
      };
      return { ...state, verificationLinks: [...links, link] };
    }
    case 'itemRefreshWanted': {
      const item = state.items.find((i) => i.itemId === event.itemId);
      if (!item?.details || item.borrowed) return state;
      return updateItem(state, event.itemId, { refreshWanted: true });
    }
    case 'describeFailed': {
      // Rules 3: a failed refresh of an Item already described keeps what was known.
      const known = state.items.find((i) => i.itemId === event.itemId);
      if (state.v3 && known?.details) {
        return addError(updateItem(state, event.itemId, { describing: false }), event.error);
      }
      // The Item is kept (its access token is safe in the store) but offers no payment account.
      const s = updateItem(state, event.itemId, { describing: false, error: event.error });
      return addError(s, event.error);
    }
    case 'paymentAccountSelected': {
      const choice = eligibilityOf(state).eligible.find((a) => a.account_id === event.accountId);
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
      let s = state.finished ? state : markFinished(state, 'SUCCESS', event.at);
      if (s.linkSessions) {
        // Nothing more can come from a Link session whose results Plaid no longer keeps.
        const open = openLinkSessions(s);
        for (const l of open) s = finishLinkSession(s, l.id, 'SUCCESS', event.at);
        if (state.tokens.length === 0 && open.length > 0) return { ...s, expired: true };
        return s.reconcile === 'pending'
          ? s
          : { ...s, reconcile: s.reconcile === 'failed' ? 'done' : s.reconcile };
      }
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
    } else if (item.refreshWanted && !item.describing) {
      // Rules 3: read the Item again (its verification may have changed).
      commands.push({ type: 'describe', itemId: item.itemId });
      s = updateItem(s, item.itemId, { describing: true, refreshWanted: undefined, refreshedAt: now });
    }
  }
  if (s.v3) s = verificationBookkeeping(s, now);
  if (s.finished && s.reconcile === 'not_started' && !s.expired && needsReconcile(s)) {
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

/**
 * Rules 1 looked at `/link/token/get` once after any finish. Rules 2 looks only when the finish
 * leaves a doubt: Plaid said SUCCESS but no public token is known, or the user EXITED (Items
 * added before the exit may have lost their webhooks). SESSION_FINISHED SUCCESS lists every
 * public token of its Link session, so trusting it costs nothing and saves a poll per session.
 */
/**
 * Rules 3: when each Item's pending verification began, when an account first became selectable,
 * and the end of the payment step when its last candidate failed or let lapse its verification.
 */
function verificationBookkeeping(state: SessionState, now: string): SessionState {
  let s = state;
  const { eligible, pending, ineligible } = eligibilityOf(s);
  for (const item of s.items) {
    if (!item.pendingSince && pending.some((a) => a.item_id === item.itemId)) {
      s = updateItem(s, item.itemId, { pendingSince: now, refreshedAt: item.refreshedAt ?? now });
    }
  }
  if (!s.selectableSince && eligible.length > 0) s = { ...s, selectableSince: now };
  const lapsed = ineligible.filter(
    (a) =>
      a.verification_status === 'verification_expired' || a.verification_status === 'verification_failed',
  );
  if (
    s.payment &&
    s.paymentPhase.phase === 'none' &&
    eligible.length === 0 &&
    pending.length === 0 &&
    lapsed.length > 0 &&
    settled(s)
  ) {
    const a = lapsed[0] as (typeof lapsed)[number];
    const expired = a.verification_status === 'verification_expired';
    const error: ErrorInfo = {
      code: expired ? 'VERIFICATION_EXPIRED' : 'VERIFICATION_FAILED',
      message: expired
        ? `account ${a.account_id} (${a.institution_name ?? 'manually entered'} ••${a.mask ?? '?'}) was not verified in time: Plaid could not confirm its micro-deposit and stopped trying (verification_expired)`
        : `account ${a.account_id} (${a.institution_name ?? 'manually entered'} ••${a.mask ?? '?'}) failed micro-deposit verification: the user used up Plaid's attempts (verification_failed)`,
      retryable: false,
    };
    s = addError({ ...s, paymentPhase: { phase: 'unverified', error } }, error);
  }
  return s;
}

function needsReconcile(s: SessionState): boolean {
  if (s.rules !== 2) return true;
  return s.tokens.length === 0 || s.finished?.status === 'EXITED';
}

/** A fingerprint of what polling can change: tokens, Link sessions and their ends. */
function progressMark(state: SessionState): string {
  const ends = (state.linkSessions ?? []).map((l) => l.finishedAt ?? '-').join(',');
  return `${state.tokens.length}|${state.linkSessionIds.length}|${state.finished?.status ?? '-'}|${ends}`;
}

/**
 * Rules 2: the state of a run started by a webhook that arrived after the session's previous run
 * had closed. Its Items stay in the view; the new run exchanges what the webhook brought (the
 * store returns an Item already exchanged instead of exchanging twice).
 */
export function reopenedState(input: LinkSessionInput, previous: SessionView): SessionState {
  return {
    ...initialState(input),
    linkSessionIds: [...previous.link_session_ids],
    linkSessions: previous.link_session_ids.map((id) => ({
      id,
      finishedAt: previous.finished_at ?? input.createdAt,
      status: 'SUCCESS' as const,
    })),
    prior: { items: previous.items, paymentAccount: previous.payment_account },
  };
}

// ---- rules 3: the payment Link ----

export function paymentLinkOf(state: SessionState, linkToken: string): PaymentLinkState | undefined {
  return (state.paymentLinks ?? []).find((l) => l.linkToken === linkToken);
}

export function latestPaymentLink(state: SessionState): PaymentLinkState | undefined {
  const links = state.paymentLinks ?? [];
  return links[links.length - 1];
}

function updatePaymentLink(
  state: SessionState,
  linkToken: string,
  patch: Partial<PaymentLinkState>,
): SessionState {
  return {
    ...state,
    paymentLinks: (state.paymentLinks ?? []).map((l) => (l.linkToken === linkToken ? { ...l, ...patch } : l)),
  };
}

/** Rules 3: a payment Link that may still yield a public token linkflow has not seen. */
export function paymentLinkOpen(state: SessionState, link: PaymentLinkState): boolean {
  if (link.lookedAfterExpiry) return false;
  return !state.tokens.some((t) => t.resultsLinkToken === link.linkToken);
}

// ---- derived views ----

/**
 * The Items eligibility looks at. A Link made with only `transfer` (the payment Link of a transfer
 * session) verifies the account for Transfer, which runs Auth itself: its Item counts as auth.
 */
function eligibilityItems(state: SessionState): ItemForEligibility[] {
  const transferLinks = state.payment?.product === 'transfer';
  const fromPaymentLink = new Set(
    state.tokens.filter((t) => t.origin === 'payment_link' && t.itemId).map((t) => t.itemId as string),
  );
  return describedItems(state).map((d) =>
    transferLinks &&
    fromPaymentLink.has(d.itemId) &&
    d.products.includes('transfer') &&
    !d.products.includes('auth')
      ? { ...d, products: [...d.products, 'auth'] }
      : d,
  );
}

export function eligibilityOf(state: SessionState): Eligibility {
  return eligiblePaymentAccounts(eligibilityItems(state));
}

export function describedItems(state: SessionState): ItemDetails[] {
  return state.items.flatMap((i) => (i.details ? [i.details] : []));
}

const ended = (t: TokenState) =>
  t.status === 'exchanged' ||
  t.status === 'failed' ||
  t.status === 'outcome_unknown' ||
  t.status === 'duplicate';

function reconciled(state: SessionState): boolean {
  if (state.rules !== 2) return state.reconcile === 'done';
  return state.reconcile === 'done' || (state.reconcile === 'not_started' && !needsReconcile(state));
}

function settled(state: SessionState): boolean {
  return (
    state.tokens.every(ended) &&
    state.items.every((i) => i.details !== null || i.error !== null) &&
    reconciled(state)
  );
}

/** Rules 2: Plaid said SUCCESS, a look at `/link/token/get` found no public token either. */
function succeededWithoutItems(state: SessionState): boolean {
  return (
    state.rules === 2 &&
    state.tokens.length === 0 &&
    state.reconcile === 'done' &&
    (state.linkSessions ?? []).some((l) => l.status === 'SUCCESS')
  );
}

export function statusOf(state: SessionState): SessionStatus {
  if (state.expired) return 'expired';
  // Rules 2: a Link session still open on this token may add Items (the user reopened Link).
  if (!state.finished || openLinkSessions(state).length > 0)
    return state.tokens.length === 0 ? 'waiting_for_user' : 'linking';
  if (state.tokens.length === 0) {
    if (succeededWithoutItems(state)) return 'failed';
    return state.reconcile === 'done' || (state.rules === 2 && reconciled(state)) ? 'exited' : 'exchanging';
  }
  if (!settled(state)) return 'exchanging';
  // Rules 3: a duplicate is the user's Item already linked, not a loss.
  if (state.tokens.every((t) => t.status !== 'exchanged' && (!state.v3 || t.status !== 'duplicate')))
    return 'failed';
  if (!state.payment) return 'completed';
  switch (state.paymentPhase.phase) {
    case 'done':
    case 'timed_out':
      return 'completed';
    case 'failed':
    case 'unverified':
      return 'failed';
    case 'running':
      return 'awaiting_payment_account';
    case 'none':
      // A reopened session whose payment account was already set up asks for no other.
      if (state.prior?.paymentAccount) return 'completed';
      // Rules 3: with no eligible account the user can still link one through the payment Link.
      if (state.v3) return 'awaiting_payment_account';
      return eligibilityOf(state).eligible.length > 0 ? 'awaiting_payment_account' : 'completed';
  }
}

export function isTerminal(status: SessionStatus): boolean {
  return status === 'completed' || status === 'exited' || status === 'expired' || status === 'failed';
}

export function toView(state: SessionState): SessionView {
  const status = statusOf(state);
  const described = new Map(describedItems(state).map((d) => [d.itemId, d]));
  const items = state.tokens.filter(ended).map((t) => {
    const details = t.itemId ? described.get(t.itemId) : undefined;
    const institution = details?.institution ?? t.institution ?? { institution_id: null, name: null };
    const base: ItemView = {
      item_id: t.itemId,
      institution,
      accounts: details?.accounts ?? t.accounts,
      status: t.status as ItemView['status'],
      ...(t.duplicateOf && { duplicate_of: t.duplicateOf }),
      ...(t.replaces && { replaces: t.replaces }),
      ...(t.origin && { origin: t.origin }),
    };
    return t.error ? { ...base, error: { code: t.error.code, message: t.error.message } } : base;
  });
  const { eligible, ineligible, pending } = eligibilityOf(state);
  const phase = state.paymentPhase;
  const errors =
    state.payment &&
    !state.v3 &&
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
  const allErrors = succeededWithoutItems(state)
    ? [
        ...errors,
        {
          code: 'SUCCESS_WITHOUT_PUBLIC_TOKENS',
          message:
            'Plaid reported the Link session SUCCESS but neither webhooks nor /link/token/get showed a public token',
        },
      ]
    : errors;
  const priorItems = (state.prior?.items ?? []).filter(
    (p) => !items.some((i) => i.item_id !== null && i.item_id === p.item_id),
  );
  return {
    session_id: state.linkToken,
    client_user_id: state.clientUserId,
    user_id: state.userId,
    status,
    created_at: state.createdAt,
    finished_at: state.finished?.at ?? null,
    link_session_ids: state.linkSessionIds,
    items: [...priorItems, ...items],
    eligible_accounts: eligible,
    ineligible_accounts: ineligible,
    pending_accounts: pending as PendingAccountView[],
    ...(state.v3 && {
      payment_link: (() => {
        const link = latestPaymentLink(state);
        return link ? { link_token: link.linkToken, expiration: link.expiration } : null;
      })(),
    }),
    payment_account:
      phase.phase === 'done'
        ? {
            account_id: phase.accountId,
            item_id: phase.itemId,
            product: phase.result.product,
            result: phase.result.result,
          }
        : (state.prior?.paymentAccount ?? null),
    polling: {
      active: state.polling.active,
      polls: state.polling.polls,
      last_polled_at: state.polling.lastPolledAt,
    },
    errors: allErrors,
  };
}
