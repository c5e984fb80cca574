/**
 * `/processor/token/create` once per Link session, fenced like the exchange (see
 * exchangePublicToken.ts and store/callLedger.ts).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { ProcessorTokenCreateRequestProcessorEnum } from 'plaid';
import { classifyPlaidError } from '../plaid/errors';
import type { SetupPaymentInput } from '../workflows/activityTypes';
import type { PaymentSetupResult } from '../workflows/types';
import {
  type Attempt,
  CALL_MARGIN_MS,
  cancelled,
  keepLease,
  LEASE_TTL_MS,
  PLAID_CALL_TIMEOUT_MS,
  saveWithRetry,
} from './attempt';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';

export const PROCESSOR_TOKEN_OUTCOME_UNKNOWN = 'PROCESSOR_TOKEN_OUTCOME_UNKNOWN';

/**
 * `/processor/token/create` once per Link session. Plaid mints a new processor token on every
 * call (no idempotency key), so a retry after a lost answer could leave two live tokens at the
 * processor. Hence: the stored setup first; then the lease and call mark (store/callLedger.ts);
 * and a request whose answer was lost is not repeated — the outcome is recorded as unknown
 * (PROCESSOR_TOKEN_OUTCOME_UNKNOWN, non-retryable) for a person to check with the processor.
 */
export async function createProcessorTokenOnce(
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
