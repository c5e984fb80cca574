/**
 * Everything the emulator knows, as one JSON-serialisable object. Persisted whole to the state
 * file, so a restarted emulator keeps users, link tokens, sessions, Items, access tokens, pending
 * webhook retries and its signing keys. Times are epoch milliseconds on the emulator clock unless
 * a field says otherwise (webhook scheduling and signing keys use real time).
 */
import type { JWK } from 'jose';
import type { LinkEvent } from 'plaid';
import { SeededRandom } from './ids';

export const STATE_VERSION = 1;

export type UserApi = 'new' | 'legacy';

export interface UserRecord {
  user_id: string;
  client_id: string;
  client_user_id: string;
  /** Only users created through the legacy user API have one. */
  user_token: string | null;
  api: UserApi;
  created_at: number;
}

export interface LinkSessionRecord {
  link_session_id: string;
  started_at: number;
  /** null while the user is still in Link. */
  finished_at: number | null;
  /** null while the user is still in Link. */
  status: 'SUCCESS' | 'EXITED' | null;
  item_ids: string[];
  public_tokens: string[];
  events: LinkEvent[];
  exit_request_id: string | null;
}

export interface LinkTokenRecord {
  link_token: string;
  client_id: string;
  created_at: number;
  expires_at: number;
  client_user_id: string | null;
  /** The `/user/create` user the token is bound to, if any. */
  user_id: string | null;
  user_api: UserApi | null;
  client_name: string;
  language: string;
  country_codes: string[];
  products: string[];
  required_if_supported_products: string[];
  optional_products: string[];
  additional_consented_products: string[];
  webhook: string | null;
  redirect_uri: string | null;
  enable_multi_item_link: boolean;
  hosted_link: boolean;
  /** Update mode: the Item being repaired. Completing such a token is not emulated. */
  access_token: string | null;
  account_filters: unknown;
  sessions: LinkSessionRecord[];
  /** The `auth` object of `/link/token/create` (absent in older state files: none). */
  auth?: LinkTokenAuthOptions | null;
}

/** What `/link/token/create`'s `auth` object enabled, as stored on the token. */
export interface LinkTokenAuthOptions {
  same_day_microdeposits_enabled: boolean;
  automated_microdeposits_enabled: boolean;
  instant_match_enabled: boolean;
  /** Database Auth, enabled through the deprecated `database_insights_enabled` / `database_match_enabled`. */
  database_auth_enabled: boolean;
  auth_type_select_enabled: boolean;
  /** The request's `auth` object as sent. */
  raw: Record<string, unknown>;
}

/** Plaid's `verification_status` values the emulator produces. */
export type VerificationStatus =
  | 'pending_automatic_verification'
  | 'pending_manual_verification'
  | 'automatically_verified'
  | 'manually_verified'
  | 'verification_expired'
  | 'verification_failed'
  | 'database_insights_pass';

/** A micro-deposit Plaid sent to an account (Same-Day: a code the user types; Automated: none). */
export interface MicrodepositRecord {
  item_id: string;
  account_id: string;
  flow: 'same_day_microdeposits' | 'automated_microdeposits';
  /** The code in the deposit's description (Same-Day only). */
  code: string | null;
  attempts_left: number;
  verification_status: VerificationStatus;
  /** Emulator-clock ms the deposit was sent (Automated expires 7 days later). */
  sent_at: number;
}

export interface AccountRecord {
  account_id: string;
  name: string;
  official_name: string | null;
  mask: string;
  type: string;
  subtype: string;
  balances: {
    available: number | null;
    current: number | null;
    limit: number | null;
    iso_currency_code: string;
  };
  /** ACH numbers, only for checking and savings accounts. */
  ach: { account: string; routing: string; wire_routing: string } | null;
  /** Micro-deposit / database verification; absent for Instant Auth (and in older state files). */
  verification_status?: VerificationStatus | null;
  /** The account holder name typed during a non-credential Auth flow. */
  verification_name?: string | null;
}

export interface ItemRecord {
  item_id: string;
  client_id: string;
  /** null for Items without an institution connection (Same-Day Micro-deposits, Database Auth). */
  institution_id: string | null;
  institution_name: string | null;
  webhook: string | null;
  products: string[];
  consented_products: string[];
  available_products: string[];
  billed_products: string[];
  accounts: AccountRecord[];
  created_at: number;
  link_token: string | null;
  link_session_id: string | null;
  user_id: string | null;
  removed_at: number | null;
  /** An Item error set by `/sandbox/item/reset_login` (absent in older state files: none). */
  error?: string | null;
  /** Plaid's `auth_method` for non-instant Auth flows (absent: Instant Auth / none). */
  auth_method?: string | null;
}

export interface PublicTokenRecord {
  public_token: string;
  item_id: string;
  client_id: string;
  created_at: number;
  expires_at: number;
  exchanged_at: number | null;
}

export interface AccessTokenRecord {
  access_token: string;
  item_id: string;
  client_id: string;
  created_at: number;
  revoked_at: number | null;
}

export interface ProcessorTokenRecord {
  processor_token: string;
  processor: string;
  item_id: string;
  account_id: string;
  created_at: number;
}

export interface TransferAuthorizationRecord {
  id: string;
  item_id: string;
  account_id: string;
  decision: string;
  amount: string;
  created_at: number;
  /** The authorization as answered, so an idempotent retry gets exactly the same one. */
  authorization?: unknown;
}

export interface WebhookDeliveryRecord {
  id: string;
  url: string;
  /** Serialised with two-space indentation at send time, exactly as Plaid does. */
  body: Record<string, unknown>;
  webhook_code: string;
  link_token: string;
  link_session_id: string;
  attempts: number;
  delivered: boolean;
  dropped: boolean;
  /** Retries exhausted without a 200. */
  failed: boolean;
  /** Real-time epoch ms of the next attempt; null when delivered, dropped or failed. */
  next_attempt_at: number | null;
  /** Real-time epoch ms of the first attempt: Plaid retries for 24 hours from there. */
  first_attempt_at?: number | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
}

/** A delivery not yet attempted: what every webhook the emulator sends starts as. */
export function pendingDelivery(
  id: string,
  d: Pick<WebhookDeliveryRecord, 'url' | 'body' | 'webhook_code' | 'link_token' | 'link_session_id'>,
): WebhookDeliveryRecord {
  return {
    id,
    ...d,
    attempts: 0,
    delivered: false,
    dropped: false,
    failed: false,
    next_attempt_at: Date.now(),
    first_attempt_at: null,
    last_status: null,
    last_error: null,
    delivered_at: null,
  };
}

export type FaultMode = 'error' | 'lose_response' | 'delay';

export interface FaultRecord {
  path: string;
  /** The Plaid error answered in mode `error`; unused by the other modes. */
  error_code: string | null;
  remaining: number;
  http_status: number | null;
  /** Absent in state files written before modes existed: `error`. */
  mode?: FaultMode;
  delay_ms?: number | null;
  /** Sent as `Retry-After` (seconds) with the error. */
  retry_after_s?: number | null;
}

export interface SigningKeyRecord {
  kid: string;
  /** Unix seconds, real time (they travel with `iat`, which is real time too). */
  created_at: number;
  expired_at: number | null;
  private_jwk: JWK;
  public_jwk: JWK;
}

export interface EmulatorState {
  version: number;
  seed: number;
  rng: number[];
  clock_offset_ms: number;
  users: Record<string, UserRecord>;
  link_tokens: Record<string, LinkTokenRecord>;
  items: Record<string, ItemRecord>;
  public_tokens: Record<string, PublicTokenRecord>;
  access_tokens: Record<string, AccessTokenRecord>;
  processor_tokens: Record<string, ProcessorTokenRecord>;
  transfer_authorizations: Record<string, TransferAuthorizationRecord>;
  /** `<client_id> <idempotency_key>` → the authorization it produced (Plaid keeps keys 48 hours). */
  transfer_idempotency: Record<string, { authorization_id: string; created_at: number }>;
  /** Successful exchanges per public token (every issued token appears, starting at 0). */
  exchanges: Record<string, number>;
  webhooks: WebhookDeliveryRecord[];
  faults: FaultRecord[];
  faults_injected: Record<string, number>;
  signing_keys: SigningKeyRecord[];
  /** Micro-deposits sent (absent in older state files: none). */
  microdeposits: MicrodepositRecord[];
}

export function emptyState(seed: number, signingKeys: SigningKeyRecord[] = []): EmulatorState {
  return {
    version: STATE_VERSION,
    seed,
    rng: SeededRandom.initialState(seed),
    clock_offset_ms: 0,
    users: {},
    link_tokens: {},
    items: {},
    public_tokens: {},
    access_tokens: {},
    processor_tokens: {},
    transfer_authorizations: {},
    transfer_idempotency: {},
    exchanges: {},
    webhooks: [],
    faults: [],
    faults_injected: {},
    signing_keys: signingKeys,
    microdeposits: [],
  };
}

/**
 * Forget everything except what identifies this emulator run: the seed, the generator position
 * (so ids never repeat) and the signing keys (a verifier may have cached them).
 */
export function resetState(state: EmulatorState): void {
  const fresh = emptyState(state.seed, state.signing_keys);
  fresh.rng = state.rng;
  Object.assign(state, fresh);
}

/** Public view for `GET /__emulator/state` and `Emulator.state()`. */
export interface EmulatorStateView {
  exchanges: Record<string, number>;
  webhooks: Array<{
    webhook_code: string;
    link_token: string;
    link_session_id: string;
    url: string;
    public_token?: string;
    attempts: number;
    delivered: boolean;
    dropped?: boolean;
    failed?: boolean;
    last_status?: number | null;
  }>;
  items: number;
  microdeposits: Array<{
    item_id: string;
    account_id: string;
    auth_flow: MicrodepositRecord['flow'];
    code: string | null;
    attempts_left: number;
    verification_status: VerificationStatus;
  }>;
  faults_injected?: Record<string, number>;
  faults_pending?: Array<{ path: string; mode: FaultMode; error_code: string | null; remaining: number }>;
}

export function stateView(state: EmulatorState): EmulatorStateView {
  const view: EmulatorStateView = {
    exchanges: { ...state.exchanges },
    webhooks: state.webhooks.map((w) => ({
      webhook_code: w.webhook_code,
      link_token: w.link_token,
      link_session_id: w.link_session_id,
      url: w.url,
      ...(typeof w.body.public_token === 'string' ? { public_token: w.body.public_token } : {}),
      attempts: w.attempts,
      delivered: w.delivered,
      ...(w.dropped ? { dropped: true } : {}),
      ...(w.failed ? { failed: true } : {}),
      last_status: w.last_status,
    })),
    items: Object.values(state.items).filter((i) => i.removed_at === null).length,
    microdeposits: (state.microdeposits ?? []).map((m) => ({
      item_id: m.item_id,
      account_id: m.account_id,
      auth_flow: m.flow,
      code: m.code,
      attempts_left: m.attempts_left,
      verification_status: m.verification_status,
    })),
  };
  if (Object.keys(state.faults_injected).length > 0) view.faults_injected = { ...state.faults_injected };
  const pending = state.faults.filter((f) => f.remaining > 0);
  if (pending.length > 0) {
    view.faults_pending = pending.map((f) => ({
      path: f.path,
      mode: f.mode ?? 'error',
      error_code: f.error_code,
      remaining: f.remaining,
    }));
  }
  return view;
}
