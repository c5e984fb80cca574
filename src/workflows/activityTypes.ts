/**
 * The activities the Link session workflow needs, as types only: `createActivities(deps)` in
 * src/activities implements this contract. It lives here so workflow code imports nothing but
 * `@temporalio/workflow` and its own folder (the lint rule enforces that).
 */
import type {
  CreatedLinkToken,
  ExchangeResult,
  ItemDetails,
  ItemMetadata,
  LinkTokenSnapshot,
  PaymentChoice,
  PaymentSetupResult,
} from './types';

export interface ExchangePublicTokenInput {
  linkToken: string;
  publicToken: string;
  clientUserId: string;
  userId: string;
  /**
   * Also describe the Item once it is exchanged (best effort: on failure the result has no
   * `details` and the workflow runs `describeItem` itself). Saves one activity and one workflow
   * task per Item between the exchange and eligibility.
   */
  describe?: boolean;
  /**
   * Compare the Item with the user's Items before exchanging it (duplicate-Item protection; the
   * worker's LINKFLOW_DUPLICATE_ITEMS says whether a duplicate is skipped or kept). `metadata` is
   * what the workflow already knows from `/link/token/get`; without it the activity reads
   * `/link/token/get` of `resultsLinkToken` (the session's link token or its payment Link's).
   * Absent in histories recorded before the check.
   */
  duplicateCheck?: {
    resultsLinkToken: string;
    metadata: ItemMetadata | null;
    /** Products an original must have for this token to be redundant (the payment Link: auth). */
    needs?: string[];
  };
}

export interface SetupPaymentInput {
  linkToken: string;
  itemId: string;
  accountId: string;
  choice: PaymentChoice;
}

export interface PaymentLinkTokenInput {
  /** The session's own link token: its `/link/token/get` metadata (client name, language, webhook) is reused. */
  sessionLinkToken: string;
  clientUserId: string;
  userId: string;
  /** `auth`, or `transfer` for a transfer session. */
  product: 'auth' | 'transfer';
}

export interface VerificationLinkTokenInput {
  sessionLinkToken: string;
  clientUserId: string;
  userId: string;
  itemId: string;
}

export interface LinkSessionActivities {
  /** Rules 3: a single-Item link token with only auth (or transfer) and the non-credential flows. */
  createPaymentLinkToken(input: PaymentLinkTokenInput): Promise<CreatedLinkToken>;
  /** Rules 3: an update-mode link token (the Item's access token) for manual micro-deposit verification. */
  createVerificationLinkToken(input: VerificationLinkTokenInput): Promise<CreatedLinkToken>;
  /**
   * Exchanges a public token exactly once: looks it up in the item store first (a retry after a
   * crash must not exchange twice), stores the access token encrypted, returns only the item id.
   * Retryable Plaid errors throw (Temporal retries with backoff); permanent ones return ok: false.
   */
  exchangePublicToken(input: ExchangePublicTokenInput): Promise<ExchangeResult>;
  /** `/link/token/get`, parsed leniently (Plaid omits arrays in some responses). */
  fetchLinkSessionResults(input: { linkToken: string }): Promise<LinkTokenSnapshot>;
  /** `/item/get` + `/accounts/get` for an exchanged Item; saved in the store too. */
  describeItem(input: { itemId: string }): Promise<ItemDetails>;
  /** `/auth/get`, `/processor/token/create` or `/transfer/authorization/create` on the chosen Item. */
  setupPayment(input: SetupPaymentInput): Promise<PaymentSetupResult>;
}
