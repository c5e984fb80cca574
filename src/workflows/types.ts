/**
 * The Link session's vocabulary, shared by the workflow, its activities, the API and tests.
 * Wire-facing shapes (the session view) are snake_case like Plaid's; internal ones camelCase.
 * Nothing here may ever hold an access token or a processor token.
 */

export type PaymentProduct = 'auth' | 'processor' | 'transfer';

export type PaymentChoice =
  | { product: 'auth' }
  | { product: 'processor'; processor: string }
  | {
      product: 'transfer';
      /** Decimal string, e.g. "12.34". */
      amount: string;
      type: 'debit' | 'credit';
      network: 'ach' | 'same-day-ach';
      legal_name: string;
    };

/** Timing policy in milliseconds (the contract's LINKFLOW_* durations). */
export interface TimingPolicy {
  /** Webhook silence after which the workflow polls `/link/token/get`. */
  pollAfterMs: number;
  /** Polling cadence; backoff while nothing changes never polls faster than this. */
  pollEveryMs: number;
  /** How long Plaid keeps session results after the session finished. */
  resultsWindowMs: number;
  /** How long the session waits for the payment-account choice. */
  selectionTimeoutMs: number;
  /**
   * Polling cadence once every known Link session ended and before the token expired (default
   * 20 minutes, inside a public token's 30): only a reopened Link whose webhooks were all lost
   * needs it.
   */
  tailPollEveryMs?: number;
  /**
   * History length at which a run continues as new (default 2,000; Temporal's own suggestion
   * also counts). Lowered only by tests, to record and replay a continue-as-new.
   */
  continueAsNewAfterEvents?: number;
}

export const DEFAULT_TIMING: TimingPolicy = {
  pollAfterMs: 5 * 60_000,
  pollEveryMs: 60_000,
  resultsWindowMs: 6 * 3_600_000,
  selectionTimeoutMs: 24 * 3_600_000,
};

export interface LinkSessionInput {
  linkToken: string;
  /** ISO time the link token expires (4 h after creation at Plaid). */
  expiration: string;
  userId: string;
  clientUserId: string;
  products: string[];
  payment: PaymentChoice | null;
  timing: TimingPolicy;
  /** ISO time the session was created (the API's clock, not the workflow's). */
  createdAt: string;
  /**
   * Outbound events are configured (LINKFLOW_EVENTS_URL): the session announces its events.
   * Without them it schedules no local activity at all.
   */
  emitEvents?: boolean;
}

export type SessionStatus =
  | 'waiting_for_user'
  | 'linking'
  | 'exchanging'
  | 'awaiting_payment_account'
  | 'completed'
  | 'exited'
  | 'expired'
  | 'failed';

export const TERMINAL_STATUSES: readonly SessionStatus[] = ['completed', 'exited', 'expired', 'failed'];

export interface Institution {
  institution_id: string | null;
  name: string | null;
}

export interface AccountMeta {
  account_id: string;
  name: string | null;
  mask: string | null;
  type: string | null;
  subtype: string | null;
  /**
   * Plaid's `verification_status` (micro-deposits, Database Auth); absent or null for an account
   * verified instantly with credentials.
   */
  verification_status?: string | null;
}

export interface ErrorInfo {
  code: string;
  message: string;
  /** Whether retrying could help (rate limits, 5xx, maintenance, network). */
  retryable?: boolean;
}

/**
 * Where a public token was learned from. The same token from several sources is one token.
 * `front_end`: the payment Link's `onSuccess`, posted by the app's front end.
 */
export type TokenSource = 'webhook' | 'session_finished' | 'poll' | 'front_end';

// ---- Signals (Plaid LINK webhooks, verified by the API) ----

export interface ItemAddResultSignal {
  public_token: string;
  link_session_id: string | null;
  received_at: string;
}

export interface SessionFinishedSignal {
  status: 'SUCCESS' | 'EXITED';
  link_session_id: string | null;
  public_tokens: string[];
  received_at: string;
}

export interface SelectPaymentAccountRequest {
  account_id: string;
}

/** The payment Link's public token, from the front end's `onSuccess`. */
export interface PaymentLinkPublicTokenSignal {
  public_token: string;
  received_at: string;
}

/**
 * Something may have changed an Item's verification: Plaid's AUTH webhook (routed by item_id), or
 * the front end after update-mode Link. Only a reason to read the Item again, never trusted as data.
 */
export interface ItemVerificationSignal {
  item_id: string;
  /** `AUTOMATICALLY_VERIFIED`, `VERIFICATION_EXPIRED`, or `FRONT_END` after update-mode Link. */
  reason: string;
  received_at: string;
}

/** A link token made for this session's payment step (single-Item) or a verification (update mode). */
export interface CreatedLinkToken {
  link_token: string;
  expiration: string;
}

export interface VerificationLinkRequest {
  item_id: string;
}

// ---- Activity results (what enters history: no secrets, public tokens only via the codec) ----

export type ExchangeResult =
  /**
   * `details` when the exchange was asked to describe the Item too and that succeeded.
   * `duplicateOf`: LINKFLOW_DUPLICATE_ITEMS=keep exchanged an Item that duplicates that one.
   * `replaces`: the older Item of the same login that the institution invalidated when this one
   * was added (some OAuth institutions allow one Item per login), so this one was exchanged.
   */
  | { ok: true; itemId: string; details?: ItemDetails; duplicateOf?: string; replaces?: string }
  /**
   * Not exchanged. With `duplicate`, deliberately: the user already has this Item (same
   * institution, an account with the same name and mask; `error.code` DUPLICATE_ITEM), and
   * `original` is that Item as the store knows it, when it has its details.
   */
  | { ok: false; error: ErrorInfo; duplicate?: { of: string; original: ItemDetails | null } };

/** Link's metadata for a public token, compared with the user's Items before exchanging it. */
export interface ItemMetadata {
  institution: Institution | null;
  accounts: AccountMeta[];
}

export interface LinkResultItem {
  publicToken: string;
  institution: Institution | null;
  accounts: AccountMeta[];
}

export interface LinkSessionSnapshot {
  linkSessionId: string;
  finishedAt: string | null;
  /** Plaid's exit status when the user left (`exit` present), else null. */
  exited: boolean;
  items: LinkResultItem[];
}

/** What `/link/token/get` showed, parsed leniently. */
export interface LinkTokenSnapshot {
  sessions: LinkSessionSnapshot[];
  /**
   * When the look happened, by the worker's clock. Recorded in history with the result, it keeps
   * the session's clock (historyClock.ts) in step with real time. Absent in older histories.
   */
  fetchedAt?: string;
}

export interface ItemDetails {
  itemId: string;
  institution: Institution;
  /** `/item/get` `item.products` (billed products); missing means no auth. */
  products: string[];
  accounts: AccountMeta[];
}

export interface PaymentSetupResult {
  product: PaymentProduct;
  /** Non-secret summary: masks, ids, decisions. Never an account number or a token. */
  result: Record<string, unknown>;
}

// ---- The session view of the contract (also the workflow result and the getSession query) ----

export interface ItemView {
  item_id: string | null;
  institution: Institution;
  accounts: AccountMeta[];
  /**
   * `outcome_unknown`: the exchange may have happened at Plaid but its answer was lost, and Plaid
   * refuses a second exchange; `error.code` is `EXCHANGE_OUTCOME_UNKNOWN`. Never a plain failure.
   */
  status: 'exchanged' | 'failed' | 'outcome_unknown' | 'duplicate';
  error?: { code: string; message: string };
  /** `duplicate`: the user's Item this one duplicates (it was not exchanged); with `keep`, informative. */
  duplicate_of?: string;
  /** The older Item of the same login that the institution invalidated when this one was added. */
  replaces?: string;
  /** `payment_link`: added through the session's payment Link. */
  origin?: 'payment_link';
}

export interface EligibleAccountView {
  account_id: string;
  item_id: string;
  name: string | null;
  mask: string | null;
  subtype: string | null;
  institution_name: string | null;
}

export interface IneligibleAccountView extends EligibleAccountView {
  reason: 'not_checking_or_savings' | 'item_without_auth' | 'not_verified';
  /** `not_verified`: Plaid's verification_status (expired, failed, a failed database check). */
  verification_status?: string;
}

/** An account Plaid is still verifying (micro-deposits): shown, not selectable yet. */
export interface PendingAccountView extends EligibleAccountView {
  verification_status: string;
}

export interface SessionView {
  session_id: string;
  client_user_id: string;
  user_id: string;
  status: SessionStatus;
  created_at: string;
  finished_at: string | null;
  link_session_ids: string[];
  items: ItemView[];
  eligible_accounts: EligibleAccountView[];
  /** Extension: accounts that cannot move money, with the reason (the chooser greys them). */
  ineligible_accounts: IneligibleAccountView[];
  /** Accounts awaiting micro-deposit verification (rules 3). */
  pending_accounts: PendingAccountView[];
  /** The session's payment Link, once created (rules 3). */
  payment_link?: { link_token: string; expiration: string } | null;
  payment_account: null | {
    account_id: string;
    item_id: string;
    product: PaymentProduct;
    result: Record<string, unknown>;
  };
  polling: { active: boolean; polls: number; last_polled_at: string | null };
  errors: ErrorInfo[];
}
