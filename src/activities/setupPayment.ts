/**
 * The payment step on the chosen account: `/auth/get`, `/processor/token/create` or
 * `/transfer/authorization/create`. Secrets stay out of the result: account and routing numbers
 * are reduced to their last four digits, a processor token is stored encrypted, never returned.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import {
  ACHClass,
  type ProcessorTokenCreateRequestProcessorEnum,
  TransferNetwork,
  TransferType,
} from 'plaid';
import { classifyPlaidError } from '../plaid/errors';
import type { PaymentSecrets } from '../store/paymentCredentials';
import type { SetupPaymentInput } from '../workflows/activityTypes';
import type { PaymentSetupResult } from '../workflows/types';
import {
  type Attempt,
  CALL_MARGIN_MS,
  cancelled,
  currentAttempt,
  keepLease,
  LEASE_TTL_MS,
  PLAID_CALL_TIMEOUT_MS,
  saveWithRetry,
} from './attempt';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';

const last4 = (value: string | null | undefined) => (value ? value.slice(-4) : null);

export async function setupPayment(
  deps: ActivityDeps,
  input: SetupPaymentInput,
  attempt: Attempt = currentAttempt(),
): Promise<PaymentSetupResult> {
  const { plaid, store } = deps;
  const { choice } = input;
  if (choice.product === 'processor') return createProcessorTokenOnce(deps, input, attempt);
  const accessToken = await store.getAccessToken(input.itemId);
  const processorToken: string | null = null;
  let result: Record<string, unknown>;
  let secrets: PaymentSecrets | null = null; // for the audited secrets route, stored encrypted
  try {
    if (choice.product === 'auth') {
      const { data } = await plaid.authGet({
        access_token: accessToken,
        options: { account_ids: [input.accountId] },
      });
      const ach = data.numbers.ach.find((n) => n.account_id === input.accountId);
      if (ach)
        secrets = {
          ach: { account: ach.account, routing: ach.routing, wire_routing: ach.wire_routing ?? null },
        };
      result = {
        network: 'ach',
        account_last4: last4(ach?.account),
        routing_last4: last4(ach?.routing),
        numbers_available: Boolean(ach),
      };
    } else {
      const { data } = await plaid.transferAuthorizationCreate({
        access_token: accessToken,
        account_id: input.accountId,
        type: choice.type === 'credit' ? TransferType.Credit : TransferType.Debit,
        network: choice.network === 'same-day-ach' ? TransferNetwork.SameDayAch : TransferNetwork.Ach,
        amount: choice.amount,
        // Plaid accepts ccd/tel/web for debits and ccd/ppd for credits; a consumer authorising
        // online is WEB, a payout to a consumer is PPD.
        ach_class: choice.type === 'credit' ? ACHClass.Ppd : ACHClass.Web,
        user: { legal_name: choice.legal_name },
        // One authorization per session and account, however often Temporal retries this
        // activity: Plaid returns the same authorization for the same key (≤ 50 chars) for 48 h.
        idempotency_key: transferIdempotencyKey(input.linkToken, input.accountId),
      });
      const a = data.authorization;
      secrets = { authorization: { ...a } };
      result = {
        authorization_id: a.id,
        decision: a.decision,
        decision_rationale: a.decision_rationale ?? null,
        amount: choice.amount,
        type: choice.type,
        network: choice.network,
      };
    }
  } catch (err) {
    throw plaidFailure(err, `running ${choice.product} on the chosen account`);
  }
  await store.savePaymentSetup({
    linkToken: input.linkToken,
    itemId: input.itemId,
    accountId: input.accountId,
    product: choice.product,
    processorToken,
    result,
  });
  if (secrets)
    await store.savePaymentCredentials({ linkToken: input.linkToken, itemId: input.itemId, secrets });
  return { product: choice.product, result };
}

/** sha256(session + account), hex, cut to Plaid's 50-character limit. */
export function transferIdempotencyKey(linkToken: string, accountId: string): string {
  return createHash('sha256').update(`transfer:${linkToken}:${accountId}`).digest('hex').slice(0, 50);
}

export const PROCESSOR_TOKEN_OUTCOME_UNKNOWN = 'PROCESSOR_TOKEN_OUTCOME_UNKNOWN';

/**
 * `/processor/token/create` once per Link session. Plaid mints a new processor token on every
 * call (no idempotency key), so a retry after a lost answer could leave two live tokens at the
 * processor. Hence: the stored setup first; then the lease and call mark (store/callLedger.ts);
 * and a request whose answer was lost is not repeated — the outcome is recorded as unknown
 * (PROCESSOR_TOKEN_OUTCOME_UNKNOWN, non-retryable) for a person to check with the processor.
 */
async function createProcessorTokenOnce(
  deps: ActivityDeps,
  input: SetupPaymentInput,
  attempt: Attempt,
): Promise<PaymentSetupResult> {
  const { plaid, store } = deps;
  const ledger = store.processorTokenLedger;
  const processor = input.choice.product === 'processor' ? input.choice.processor : '';
  const stored = await storedProcessorSetup(deps, input);
  if (stored) return stored;

  const lease = await ledger.acquire({
    key: input.linkToken,
    itemId: input.itemId,
    accountId: input.accountId,
    processor,
    owner: attempt.owner,
    ttlMs: LEASE_TTL_MS,
  });
  if (lease.kind === 'settled') {
    const now = await storedProcessorSetup(deps, input);
    if (now) return now;
    const e = (lease.error ?? {}) as { code?: string; message?: string };
    throw ApplicationFailure.nonRetryable(
      e.message ?? `the processor token step of this session is ${lease.state}`,
      e.code ?? `PROCESSOR_TOKEN_${lease.state.toUpperCase()}`,
    );
  }
  if (lease.kind === 'held') {
    throw ApplicationFailure.retryable(
      `attempt ${lease.owner} is creating this session's processor token (lease until ${lease.expiresAt})`,
      'PROCESSOR_TOKEN_IN_PROGRESS',
    );
  }
  const fence = { key: input.linkToken, generation: lease.generation };
  if (lease.inDoubt) {
    const message =
      `a processor token may already exist at the processor: ${lease.inDoubt.reason}. ` +
      `Attempt ${attempt.owner} did not create another (Plaid would mint a second live token)`;
    await ledger.settle({
      ...fence,
      state: 'unknown',
      error: { code: PROCESSOR_TOKEN_OUTCOME_UNKNOWN, message },
    });
    throw ApplicationFailure.nonRetryable(message, PROCESSOR_TOKEN_OUTCOME_UNKNOWN);
  }

  const accessToken = await store.getAccessToken(input.itemId);
  const keeper = keepLease({ refresh: () => ledger.refresh({ ...fence, ttlMs: LEASE_TTL_MS }) });
  try {
    if (attempt.cancellation.aborted) {
      await ledger.release(fence);
      throw cancelled(attempt, 'before creating a processor token');
    }
    const callTimeoutMs = deps.plaidCallTimeoutMs ?? PLAID_CALL_TIMEOUT_MS;
    await ledger.callStarted({ ...fence, mustOutliveMs: callTimeoutMs + CALL_MARGIN_MS });
    let processorToken: string;
    try {
      const { data } = await plaid.processorTokenCreate(
        {
          access_token: accessToken,
          account_id: input.accountId,
          processor: processor as ProcessorTokenCreateRequestProcessorEnum,
        },
        { signal: AbortSignal.any([attempt.cancellation, keeper.lost]), timeout: callTimeoutMs },
      );
      processorToken = data.processor_token;
    } catch (err) {
      const info = classifyPlaidError(err);
      if (info.reachedPlaid === 'maybe') {
        const message =
          `attempt ${attempt.owner} sent /processor/token/create and lost the answer at ${new Date().toISOString()} ` +
          `(${info.code} ${info.message}): a processor token may exist at the processor; not creating another`;
        await ledger.settle({
          ...fence,
          state: 'unknown',
          error: { code: PROCESSOR_TOKEN_OUTCOME_UNKNOWN, message },
        });
        throw ApplicationFailure.nonRetryable(message, PROCESSOR_TOKEN_OUTCOME_UNKNOWN);
      }
      if (info.retryable) {
        await ledger.callEnded({ ...fence, inDoubtReason: null });
        await ledger.release(fence);
        if (attempt.cancellation.aborted) throw cancelled(attempt, 'creating a processor token');
      } else {
        await ledger.settle({ ...fence, state: 'failed', error: { code: info.code, message: info.message } });
      }
      throw plaidFailure(err, 'running processor on the chosen account');
    }
    const result = { processor, processor_token_stored: true };
    // Not fenced and deaf to cancellation: the token exists only in memory until stored.
    await saveWithRetry(() =>
      store.savePaymentSetup({
        linkToken: input.linkToken,
        itemId: input.itemId,
        accountId: input.accountId,
        product: 'processor',
        processorToken,
        result,
      }),
    );
    await ledger.settle({ ...fence, state: 'created' }).catch(() => undefined);
    return { product: 'processor', result };
  } finally {
    keeper.stop();
  }
}

/** The session's processor setup already stored for this account, if any. */
async function storedProcessorSetup(
  deps: ActivityDeps,
  input: SetupPaymentInput,
): Promise<PaymentSetupResult | null> {
  const existing = await deps.store.getPaymentSetup(input.linkToken);
  if (!existing) return null;
  if (
    existing.product !== 'processor' ||
    existing.itemId !== input.itemId ||
    existing.accountId !== input.accountId
  ) {
    throw ApplicationFailure.nonRetryable(
      `link session already has a ${existing.product} setup for account ${existing.accountId}`,
      'PAYMENT_SETUP_CONFLICT',
    );
  }
  return { product: 'processor', result: existing.result };
}
