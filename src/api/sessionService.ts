/**
 * What the session routes do, apart from HTTP: create a session (Plaid user, link token, workflow,
 * repository), read one or a user's list through the workflow's query, and forward the
 * payment-account choice as an update.
 *
 * Creation order is chosen so that no path loses a session:
 * 1. the Plaid user (once per client user; kept in the repository),
 * 2. the link token,
 * 3. the repository record (first writer wins per idempotency key),
 * 4. the workflow, started with "use existing" on id conflicts and "reject duplicate" for closed
 *    ones (a replay never re-runs a finished session).
 * If 4 fails (Temporal down) the caller gets 503; replaying the same idempotency key finds the
 * record and starts the workflow from it (same body, so the same input). A lost race on a key
 * (two instances) costs one unused link token and nothing else: the loser stops before starting
 * a workflow.
 */
import { createHash } from 'node:crypto';
import {
  ApplicationFailure,
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import type { LinkTokenCreateRequest } from 'plaid';
import type { Logger } from '../observability/logger';
import { classifyPlaidError } from '../plaid/errors';
import { LINK_SESSION_WORKFLOW_TYPE, linkSessionStartOptions } from '../temporal/startLinkSession';
import {
  addPaymentLinkPublicTokenUpdate,
  createPaymentLinkUpdate,
  createVerificationLinkUpdate,
  getSessionQuery,
  linkSessionWorkflowId,
  refreshItemUpdate,
  selectPaymentAccountUpdate,
} from '../workflows/definitions';
import {
  type CreatedLinkToken,
  type LinkSessionInput,
  type PaymentChoice,
  type SessionView,
  TERMINAL_STATUSES,
} from '../workflows/types';
import {
  type ApiConfig,
  type Clock,
  idempotencyConflictOf,
  type LinkSessionRecord,
  type PlaidLinkApi,
  type SessionRepository,
  type StoredUser,
} from './deps';
import { ApiError, isTemporalUnavailable, temporalUnavailable } from './errors';
import { isLinkToken } from './ids';
import { createKeyedLock, createSingleFlight, mapWithConcurrency } from './keyedLock';
import { type RetryingWork, retryingWork } from './retryingWork';
import type { CreateSessionRequest, CreateSessionResponse } from './schemas';

/** Failure types the workflow's `selectPaymentAccount` validator throws. */
export const NOT_AWAITING_PAYMENT_ACCOUNT = 'NOT_AWAITING_PAYMENT_ACCOUNT';
export const ACCOUNT_NOT_ELIGIBLE = 'ACCOUNT_NOT_ELIGIBLE';

/**
 * The HTTP status of each failure type the session's updates' validators throw (rules 3: the
 * payment Link and verification, see src/workflows/sessionRuntime.ts). Anything else — an activity
 * failing inside the update, e.g. Plaid refusing to create a link token — is 502 with its code.
 */
const UPDATE_REFUSALS: Record<string, 400 | 404 | 409 | 422> = {
  MALFORMED_REQUEST: 400,
  NOT_AWAITING_PAYMENT_ACCOUNT: 409,
  ACCOUNT_NOT_ELIGIBLE: 422,
  PAYMENT_LINK_UNAVAILABLE: 409,
  NOT_AWAITING_VERIFICATION: 409,
  ITEM_NOT_IN_SESSION: 404,
};

export interface SessionServiceDeps {
  client: Client;
  taskQueue: string;
  plaid: PlaidLinkApi;
  sessions: SessionRepository;
  config: ApiConfig;
  clock: Clock;
  logger: Logger;
  /** Outbound events are configured: sessions announce theirs (LINKFLOW_EVENTS_URL). */
  emitEvents?: boolean;
}

export interface CreateSessionResult {
  /** 201 for a new session, 200 for a replayed idempotency key. */
  status: 200 | 201;
  body: CreateSessionResponse;
}

/** JSON with sorted keys, so equal requests hash equally whatever their field order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestFingerprint(request: CreateSessionRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function plaidFailure(err: unknown, call: string): ApiError {
  const info = classifyPlaidError(err);
  return new ApiError(502, info.code, `Plaid ${call} failed: ${info.message}`, {
    retryable: info.retryable,
    plaid_error_type: info.type,
    ...(info.requestId && { plaid_request_id: info.requestId }),
  });
}

function toPaymentChoice(payment: CreateSessionRequest['payment']): PaymentChoice | null {
  if (!payment) return null;
  return payment as PaymentChoice;
}

/** Auth in `optional_products` when a payment choice needs it and `products` lacks it. */
export function linkProducts(request: CreateSessionRequest): { products: string[]; optional: string[] } {
  const products = request.products;
  const optional = (request.optional_products ?? []).filter((p) => !products.includes(p));
  if (request.payment && !products.includes('auth') && !optional.includes('auth')) optional.push('auth');
  return { products, optional };
}

function responseOf(record: LinkSessionRecord): CreateSessionResponse {
  return {
    session_id: record.linkToken,
    link_token: record.linkToken,
    expiration: record.expiration,
    user_id: record.userId,
  };
}

export function createSessionService(deps: SessionServiceDeps) {
  const { client, plaid, sessions, config, clock, logger } = deps;
  const temporalMs = config.temporalTimeoutMs ?? 5000;
  const updateMs = config.updateTimeoutMs ?? 30_000;
  const withIdempotencyLock = createKeyedLock();
  const userFlight = createSingleFlight<StoredUser>();

  const bounded = <T>(ms: number, fn: () => Promise<T>): Promise<T> =>
    client.withDeadline(Date.now() + ms, fn);

  function rethrowTemporal(err: unknown): never {
    if (err instanceof ApiError) throw err;
    if (isTemporalUnavailable(err)) throw temporalUnavailable(err);
    throw err;
  }

  async function ensureUser(clientUserId: string): Promise<StoredUser> {
    const known = await sessions.getUser(clientUserId);
    if (known) return known;
    return userFlight(clientUserId, async () => {
      let data: { user_id: string; user_token?: string };
      try {
        ({ data } = await plaid.userCreate({ client_user_id: clientUserId }));
      } catch (err) {
        throw plaidFailure(err, '/user/create');
      }
      const user: StoredUser = { clientUserId, userId: data.user_id, userToken: data.user_token ?? null };
      await sessions.upsertUser(user);
      return user;
    });
  }

  async function startWorkflow(input: LinkSessionInput): Promise<void> {
    try {
      await bounded(temporalMs, () =>
        client.workflow.start(LINK_SESSION_WORKFLOW_TYPE, {
          ...linkSessionStartOptions(input, deps.taskQueue),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      );
    } catch (err) {
      // Already ran and closed under this id: the session exists, which is all a replay needs.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      rethrowTemporal(err);
    }
  }

  function workflowInput(request: CreateSessionRequest, record: LinkSessionRecord): LinkSessionInput {
    return {
      linkToken: record.linkToken,
      expiration: record.expiration,
      userId: record.userId,
      clientUserId: request.client_user_id,
      products: linkProducts(request).products,
      payment: toPaymentChoice(request.payment),
      timing: config.timing,
      createdAt: clock.now().toISOString(),
      ...(deps.emitEvents && { emitEvents: true }),
    };
  }

  async function replay(
    existing: LinkSessionRecord,
    request: CreateSessionRequest,
    fingerprint: string,
  ): Promise<CreateSessionResult> {
    if (existing.requestFingerprint !== fingerprint || existing.clientUserId !== request.client_user_id) {
      throw new ApiError(
        409,
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was used with a different request body',
      );
    }
    // Normally already running; after a 503 on the first attempt this is where it starts.
    await startWorkflow(workflowInput(request, existing));
    return { status: 200, body: responseOf(existing) };
  }

  async function createNew(
    request: CreateSessionRequest,
    idempotencyKey: string | null,
    fingerprint: string,
  ): Promise<CreateSessionResult> {
    const user = await ensureUser(request.client_user_id);
    const { products, optional } = linkProducts(request);
    const linkRequest: LinkTokenCreateRequest = {
      client_name: request.client_name,
      language: request.language,
      country_codes: request.country_codes as LinkTokenCreateRequest['country_codes'],
      user: { client_user_id: request.client_user_id },
      products: products as LinkTokenCreateRequest['products'],
      ...(optional.length > 0 && {
        optional_products: optional as LinkTokenCreateRequest['optional_products'],
      }),
      webhook: config.webhookUrl,
      enable_multi_item_link: true,
      ...(request.redirect_uri && { redirect_uri: request.redirect_uri }),
      // Plaid's Multi-Item guide: identify the user by the user_token where /user/create gave one
      // (legacy user API), by user_id otherwise.
      ...(user.userToken ? { user_token: user.userToken } : { user_id: user.userId }),
    };
    let linkToken: string;
    let expiration: string;
    try {
      const { data } = await plaid.linkTokenCreate(linkRequest);
      linkToken = data.link_token;
      expiration = data.expiration;
    } catch (err) {
      throw plaidFailure(err, '/link/token/create');
    }
    if (!isLinkToken(linkToken)) {
      throw new ApiError(502, 'UNEXPECTED_LINK_TOKEN', 'Plaid returned a link token of an unknown shape', {
        retryable: false,
      });
    }
    const record: LinkSessionRecord = {
      linkToken,
      clientUserId: request.client_user_id,
      userId: user.userId,
      expiration,
      requestFingerprint: fingerprint,
    };
    try {
      await sessions.saveLinkSession({ ...record, idempotencyKey });
    } catch (err) {
      const existing = idempotencyConflictOf(err);
      if (!existing) throw err;
      logger.info(
        { session_id: existing.linkToken },
        'lost an idempotency race; answering the stored session',
      );
      return replay(existing, request, fingerprint);
    }
    await startWorkflow(workflowInput(request, record));
    return { status: 201, body: responseOf(record) };
  }

  async function querySession(sessionId: string): Promise<SessionView> {
    const handle = client.workflow.getHandle(linkSessionWorkflowId(sessionId));
    return bounded(temporalMs, () => handle.query(getSessionQuery));
  }

  async function workflowExists(sessionId: string): Promise<boolean> {
    try {
      await bounded(temporalMs, () => client.workflow.getHandle(linkSessionWorkflowId(sessionId)).describe());
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      rethrowTemporal(err);
    }
  }

  const notFound = () => new ApiError(404, 'SESSION_NOT_FOUND', 'no such session');

  /**
   * Runs one of the session's updates, mapping refusals and failures to what really happened. A
   * failure that is no validator's refusal is, by default, an activity inside the update failing
   * (Plaid refused or was unreachable): 502 with its code; `otherFailure` says otherwise.
   */
  async function sessionUpdate<T>(
    sessionId: string,
    run: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
    otherFailure?: (err: WorkflowUpdateFailedError) => ApiError,
  ): Promise<T> {
    if (!isLinkToken(sessionId)) throw notFound();
    const handle = client.workflow.getHandle(linkSessionWorkflowId(sessionId));
    try {
      return await bounded(updateMs, () => run(handle));
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const cause = err.cause;
        const type = cause instanceof ApplicationFailure ? cause.type : undefined;
        const refusal = type ? UPDATE_REFUSALS[type] : undefined;
        if (type && refusal) throw new ApiError(refusal, type, cause?.message ?? err.message);
        if (otherFailure) throw otherFailure(err);
        const inner = cause && 'cause' in cause ? (cause.cause as Error | undefined) : undefined;
        const innerType = inner instanceof ApplicationFailure ? inner.type : undefined;
        throw new ApiError(
          502,
          innerType ?? 'SESSION_UPDATE_FAILED',
          inner?.message ?? cause?.message ?? err.message,
          {
            retryable: true,
          },
        );
      }
      if (err instanceof WorkflowNotFoundError) {
        // Closed sessions answer "not found" to updates too: tell them apart from unknown ids.
        if (await workflowExists(sessionId)) {
          throw new ApiError(409, NOT_AWAITING_PAYMENT_ACCOUNT, 'the session has finished');
        }
        throw notFound();
      }
      rethrowTemporal(err);
    }
  }

  return {
    async createSession(request: CreateSessionRequest, idempotencyKey: string | null) {
      const fingerprint = requestFingerprint(request);
      if (idempotencyKey === null) return createNew(request, null, fingerprint);
      return withIdempotencyLock(idempotencyKey, async () => {
        const existing = await sessions.findLinkSessionByIdempotencyKey(idempotencyKey);
        if (existing) return replay(existing, request, fingerprint);
        return createNew(request, idempotencyKey, fingerprint);
      });
    },

    /** The view, plus (for an open session) the work Temporal is retrying right now. */
    async getSession(sessionId: string): Promise<SessionView & { retrying: RetryingWork[] }> {
      if (!isLinkToken(sessionId)) throw notFound();
      let view: SessionView;
      try {
        view = await querySession(sessionId);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw notFound();
        rethrowTemporal(err);
      }
      if (TERMINAL_STATUSES.includes(view.status)) return { ...view, retrying: [] };
      const handle = client.workflow.getHandle(linkSessionWorkflowId(sessionId));
      // Best effort: the view is the answer; not knowing the retries must not fail the request.
      const retrying = await bounded(temporalMs, () => retryingWork(client, handle)).catch((err: unknown) => {
        logger.warn({ session_id: sessionId, err }, 'could not read the pending activities of a session');
        return [];
      });
      return { ...view, retrying };
    },

    /**
     * From the repository, not Temporal visibility: visibility is eventually consistent (a session
     * created a moment ago may be missing from `ClientUserId = '…'` for a while), the repository
     * is read-your-writes. Each view then comes from its workflow's query.
     */
    async listSessions(clientUserId: string): Promise<SessionView[]> {
      const records = await sessions.listLinkSessions(clientUserId);
      const views = await mapWithConcurrency(records, 8, async (record) => {
        try {
          return await querySession(record.linkToken);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) {
            logger.warn(
              { session_id: record.linkToken },
              'stored session has no workflow; left out of the list',
            );
            return null;
          }
          rethrowTemporal(err);
        }
      });
      return views.filter((v): v is SessionView => v !== null);
    },

    /** A single-Item link token for the payment step (the live one when it exists). */
    createPaymentLink(sessionId: string): Promise<CreatedLinkToken> {
      return sessionUpdate(sessionId, (handle) =>
        handle.executeUpdate(createPaymentLinkUpdate, { args: [] }),
      );
    },

    /** The payment Link's public token; resolves once the session accepted it (exchanged later). */
    async addPaymentLinkPublicToken(sessionId: string, publicToken: string): Promise<void> {
      await sessionUpdate(sessionId, (handle) =>
        handle.executeUpdate(addPaymentLinkPublicTokenUpdate, {
          args: [{ public_token: publicToken, received_at: clock.now().toISOString() }],
          // Posting the same token twice (a retried request) is one token.
          updateId: `payment-link-public-token:${createHash('sha256').update(publicToken).digest('hex').slice(0, 32)}`,
        }),
      );
    },

    createVerificationLink(sessionId: string, itemId: string): Promise<CreatedLinkToken> {
      return sessionUpdate(sessionId, (handle) =>
        handle.executeUpdate(createVerificationLinkUpdate, { args: [{ item_id: itemId }] }),
      );
    },

    async refreshItem(sessionId: string, itemId: string): Promise<void> {
      await sessionUpdate(sessionId, (handle) =>
        handle.executeUpdate(refreshItemUpdate, { args: [{ item_id: itemId }] }),
      );
    },

    selectPaymentAccount(sessionId: string, accountId: string): Promise<SessionView> {
      return sessionUpdate(
        sessionId,
        (handle) =>
          handle.executeUpdate(selectPaymentAccountUpdate, {
            args: [{ account_id: accountId }],
            // A retry after a timeout attaches to the same update instead of being refused.
            updateId: `select-payment-account:${accountId}`,
          }),
        (err) => {
          const cause = err.cause;
          return new ApiError(500, 'PAYMENT_ACCOUNT_UPDATE_FAILED', cause?.message ?? err.message, {
            ...(cause instanceof ApplicationFailure && cause.type && { failure_type: cause.type }),
          });
        },
      );
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
