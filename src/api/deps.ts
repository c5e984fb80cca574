/**
 * What the API needs from the rest of linkflow, as narrow interfaces: the lead wires the real
 * item store, codec and Plaid client in `src/main/api.ts`; tests pass small in-memory ones.
 */
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { PlaidApi } from 'plaid';
import type { Registry } from 'prom-client';
import type { RateLimitRule } from '../config/rateLimit';
import type { Logger } from '../observability/logger';
import type { HandoffStore } from '../store/handoff';
import type { EventRetryPolicy } from '../workflows/eventActivityTypes';
import type { TimingPolicy } from '../workflows/types';

/** The three Plaid calls the API makes (a `PlaidApi` from `createPlaidClient` satisfies it). */
export type PlaidLinkApi = Pick<PlaidApi, 'userCreate' | 'linkTokenCreate' | 'webhookVerificationKeyGet'>;

/** The Plaid call the Items API makes (`DELETE /items/:item_id`). */
export type HandoffPlaidApi = Pick<PlaidApi, 'itemRemove'>;

/**
 * The hand-off of linked Items (issue 14): the Items API, secret reads and outbound events. The
 * routes exist only when this is given (`src/main/*` always gives it).
 */
export interface HandoffDeps {
  store: HandoffStore;
  plaid: HandoffPlaidApi;
  /** Outbound events on (LINKFLOW_EVENTS_URL and _SECRET set): how `item.removed` is retried. */
  events: { retry: EventRetryPolicy } | null;
}

/** A Plaid user as `/user/create` returned it, kept so the call is made once per client user. */
export interface StoredUser {
  clientUserId: string;
  userId: string;
  /** Only on Plaid's legacy user API; a secret (the store encrypts it, logs redact it). */
  userToken: string | null;
}

/** One `POST /link/sessions` that went through. */
export interface LinkSessionRecord {
  linkToken: string;
  clientUserId: string;
  userId: string;
  /** Plaid's expiration string, verbatim, so a replay answers byte for byte the same. */
  expiration: string;
  /** SHA-256 hex of the normalised request body: a replayed key must carry the same request. */
  requestFingerprint: string | null;
}

/**
 * The slice of the item store the API calls. Shaped like `createItemStore(db, keyring)` so the
 * real store can be passed as is.
 */
export interface SessionRepository {
  getUser(clientUserId: string): Promise<StoredUser | null>;
  upsertUser(user: { clientUserId: string; userId: string; userToken?: string | null }): Promise<void>;
  /**
   * Records an issued link token. Saving the same link token again is a no-op. When the
   * idempotency key is already bound to another link token it saves nothing and throws an error
   * carrying that session as `existing` (see `idempotencyConflictOf`): first writer wins, so two
   * API instances racing on one key end up with one session.
   */
  saveLinkSession(session: {
    linkToken: string;
    clientUserId: string;
    userId: string;
    expiration: string;
    idempotencyKey?: string | null;
    requestFingerprint?: string | null;
  }): Promise<void>;
  findLinkSessionByIdempotencyKey(idempotencyKey: string): Promise<LinkSessionRecord | null>;
  /** The sessions of one client user, newest first. */
  listLinkSessions(
    clientUserId: string,
  ): Promise<Array<{ linkToken: string; createdAt: string; userId: string; expiration: string }>>;
}

/** The session that already holds an idempotency key, if `err` is the repository saying so. */
export function idempotencyConflictOf(err: unknown): LinkSessionRecord | null {
  if (!(err instanceof Error) || !('existing' in err)) return null;
  const existing = (err as { existing: unknown }).existing as Partial<LinkSessionRecord> | null;
  return existing && typeof existing.linkToken === 'string' ? (existing as LinkSessionRecord) : null;
}

/** Plaid's webhook verification key (a P-256 JWK with Plaid's timestamps, in seconds). */
export interface WebhookVerificationKey {
  kid: string;
  kty: string;
  crv: string;
  x: string;
  y: string;
  alg?: string;
  use?: string;
  created_at?: number;
  /** Unix seconds after which webhooks signed with this key must be rejected; null while current. */
  expired_at: number | null;
}

/**
 * Looks a key up by `kid`: the key, null when Plaid says there is no such key, or a throw when
 * Plaid could not be asked (network, 5xx) — the webhook is then answered 503 so Plaid retries.
 */
export type WebhookKeySource = (kid: string) => Promise<WebhookVerificationKey | null>;

/**
 * Adds the webhook MAC to a signal for one workflow (`webhookSignalSigner` in
 * src/temporal/webhookSignalMac.ts): the Link session workflow refuses webhook signals without it.
 */
export type WebhookSignalSigner = <T extends object>(workflowId: string, signal: T) => T;

export interface Clock {
  now(): Date;
}

export interface ApiConfig {
  /** Bearer token for the session routes (and the codec routes). */
  apiKey: string;
  /** LINKFLOW_SECRETS_API_KEY: the bearer token of the secret-read routes; unset → they answer 403. */
  secretsApiKey?: string | null;
  /**
   * The codec routes' own credential: a bearer token (`temporal --codec-auth`) or the path of the
   * Temporal UI's codec endpoint, `/codec/ui/<token>` (the UI sends no credentials of its own).
   */
  codecToken?: string | null;
  /** Put in `/link/token/create` as `webhook`. */
  webhookUrl: string;
  /** `PLAID_VERIFY_WEBHOOKS`; false only for local experiments. */
  verifyWebhooks: boolean;
  /** Browser origins of the Temporal UI allowed to call the codec routes (CORS). */
  uiOrigins: string[];
  /**
   * `npm start`'s composition only, never derived from the environment: the `/demo` endpoints
   * need no key for a request from a loopback peer naming a loopback Host, not forwarded by a
   * proxy. Everything else always needs a credential.
   */
  keylessDemo: boolean;
  timing: TimingPolicy;
  /** Defaults: 64 KiB webhook bodies, 4 MiB codec bodies, 64 KiB JSON bodies elsewhere. */
  webhookMaxBodyBytes?: number;
  codecMaxBodyBytes?: number;
  jsonMaxBodyBytes?: number;
  /** Bound on signal/query/start calls (default 5 s: well inside Plaid's 10 s webhook limit). */
  temporalTimeoutMs?: number;
  /** Bound on the payment-account update, which waits for the payment setup (default 30 s). */
  updateTimeoutMs?: number;
  /** Bound on one `/webhook_verification_key/get` call (default 3 s). */
  plaidKeyTimeoutMs?: number;
  /** Oldest acceptable webhook `iat` (default 300 s, Plaid's guidance). */
  webhookMaxAgeSeconds?: number;
  /** Sessions one caller may create per window (`LINKFLOW_SESSION_RATE_LIMIT`); unlimited when omitted. */
  sessionRateLimit?: RateLimitRule | null;
  /** `LINKFLOW_METRICS_TOKEN`: when set, `/metrics` needs it as a bearer token; anonymous otherwise. */
  metricsToken?: string | null;
  /** How `GET /demo` opens Link; Plaid's hosted Link when omitted (see src/web/demoPage.ts). */
  demo?: DemoConfig;
}

/** What the `/demo` page needs to know to open Link (`demoConfigFromEnv` in src/web/demoConfig.ts). */
export interface DemoConfig {
  /** `emulator`: Link is the emulator's page in an iframe; otherwise Plaid's own Link script. */
  plaidEnv: 'emulator' | 'sandbox' | 'production';
  /** The emulator's base URL as the browser reaches it (emulator only). */
  emulatorUrl?: string;
}

export interface TemporalDeps {
  client: Client;
  namespace: string;
  taskQueue: string;
}

export interface ApiDeps {
  temporal: TemporalDeps;
  plaid: PlaidLinkApi;
  sessions: SessionRepository;
  config: ApiConfig;
  /** Defaults to the system clock. */
  clock?: Clock;
  logger: Logger;
  /** The same codec the Temporal client and worker use; served to the Temporal UI. */
  codec: PayloadCodec;
  /** Where the API's metrics are registered and what `/metrics` serves. */
  metrics: Registry;
  /** Defaults to `/webhook_verification_key/get` through `plaid`. */
  webhookKeys?: WebhookKeySource;
  /**
   * Authenticates the signals the webhook route sends. Every composition passes one; without it
   * signals go unsigned (API tests on a fixture workflow) and the real workflow refuses them.
   */
  signWebhookSignal?: WebhookSignalSigner;
  /** Items API, secret reads, outbound events; their routes are absent without it. */
  handoff?: HandoffDeps;
}
