/**
 * Exchanges one public token for an Item, exactly once, fenced.
 *
 * 1. The store first: an Item already saved (by this or any earlier attempt) is the answer; a
 *    recorded failure, unknown outcome or duplicate is returned as recorded.
 * 1b. With `input.duplicateCheck`, the duplicate-Item check (duplicateItems.ts): a duplicate is
 *    never exchanged under LINKFLOW_DUPLICATE_ITEMS=skip; the check's decision is recorded on the
 *    intent before any exchange call.
 * 2. The lease (store/callLedger.ts): one attempt at a time may talk to Plaid about this token;
 *    another attempt holding a live lease makes this one retry later.
 * 3. The call mark, written before sending: if the answer is lost, the intent is "in doubt".
 * 4. The exchange, cancellable (Temporal cancellation or a lost lease abort the request) and
 *    bounded by PLAID_CALL_TIMEOUT_MS.
 * 5. The access token saved encrypted, retried in-process: it exists only in memory until then.
 *
 * A public token is single-use: Plaid answers a second exchange of a token it already exchanged
 * with INVALID_PUBLIC_TOKEN, the same code as for an expired or unknown token, and offers no way
 * to fetch the access token again. So after a lost answer the retry tells only one thing for
 * sure: success means the first request never took effect. Any other answer leaves the outcome
 * unknown, and that is what is recorded and returned (EXCHANGE_OUTCOME_UNKNOWN), never "failed".
 */
import { ApplicationFailure } from '@temporalio/activity';
import { classifyPlaidError, type PlaidErrorInfo } from '../plaid/errors';
import type { InDoubt } from '../store/callLedger';
import type { ExchangePublicTokenInput } from '../workflows/activityTypes';
import type { ExchangeResult, ItemDetails } from '../workflows/types';
import {
  type Attempt,
  CALL_MARGIN_MS,
  cancelled,
  currentAttempt,
  isLastChance,
  keepLease,
  LEASE_TTL_MS,
  PLAID_CALL_TIMEOUT_MS,
  saveWithRetry,
} from './attempt';
import { checkDuplicateItem } from './duplicateItems';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';
import type { ExchangeRecord } from './store';

export const EXCHANGE_OUTCOME_UNKNOWN = 'EXCHANGE_OUTCOME_UNKNOWN';

export async function exchangePublicToken(
  deps: ActivityDeps,
  input: ExchangePublicTokenInput,
  attempt: Attempt = currentAttempt(),
): Promise<ExchangeResult> {
  const { store } = deps;
  const ledger = store.exchangeLedger;
  const recorded = settledResult(await store.findExchange(input.publicToken));
  if (recorded) return recorded;

  const check = await checkDuplicateItem(deps, input, attempt);
  if (check.kind === 'result') return check.result;
  if (check.kind === 'settled') {
    const now = settledResult(await store.findExchange(input.publicToken));
    if (now) return now;
  }
  const flags = check.kind === 'exchange' ? { duplicateOf: check.duplicateOf, replaces: check.replaces } : {};

  const lease = await ledger.acquire({
    key: input.publicToken,
    linkToken: input.linkToken,
    owner: attempt.owner,
    ttlMs: LEASE_TTL_MS,
  });
  if (lease.kind === 'settled') {
    const now = settledResult(await store.findExchange(input.publicToken));
    if (now) return now;
    throw ApplicationFailure.retryable(`exchange intent is ${lease.state} but unreadable`, 'EXCHANGE_STATE');
  }
  if (lease.kind === 'held') {
    throw ApplicationFailure.retryable(
      `attempt ${lease.owner} is exchanging this public token (its lease runs until ${lease.expiresAt}); ` +
        `attempt ${attempt.owner} will not call Plaid at the same time`,
      'EXCHANGE_IN_PROGRESS',
    );
  }

  const fence = { key: input.publicToken, generation: lease.generation };
  const keeper = keepLease({ refresh: () => ledger.refresh({ ...fence, ttlMs: LEASE_TTL_MS }) });
  try {
    if (attempt.cancellation.aborted) {
      await ledger.release(fence);
      throw cancelled(attempt, 'before exchanging a public token');
    }
    const callTimeoutMs = deps.plaidCallTimeoutMs ?? PLAID_CALL_TIMEOUT_MS;
    await ledger.callStarted({ ...fence, mustOutliveMs: callTimeoutMs + CALL_MARGIN_MS });
    let accessToken: string;
    let itemId: string;
    try {
      const { data } = await deps.plaid.itemPublicTokenExchange(
        { public_token: input.publicToken },
        { signal: AbortSignal.any([attempt.cancellation, keeper.lost]), timeout: callTimeoutMs },
      );
      accessToken = data.access_token;
      itemId = data.item_id;
    } catch (err) {
      return await afterFailedCall(err);
    }

    // Not fenced: the access token is the one fact that must never be dropped, whichever attempt
    // holds it (Plaid hands it out once). completeExchange turns any state into 'exchanged'.
    try {
      await saveWithRetry(() =>
        store.completeExchange({
          publicToken: input.publicToken,
          linkToken: input.linkToken,
          clientUserId: input.clientUserId,
          userId: input.userId,
          itemId,
          accessToken,
        }),
      );
    } catch (err) {
      // The call mark stays: the next attempt finds the exchange in doubt and, when Plaid refuses
      // the spent token, records the outcome as unknown instead of a failure.
      throw ApplicationFailure.retryable(
        `Item ${itemId} was exchanged by attempt ${attempt.owner} but could not be stored: ${(err as Error).message}`,
        'EXCHANGE_SAVE_FAILED',
      );
    }
    return {
      ok: true,
      itemId,
      ...(flags.duplicateOf && { duplicateOf: flags.duplicateOf }),
      ...(flags.replaces && { replaces: flags.replaces }),
    };
  } finally {
    keeper.stop();
  }

  async function afterFailedCall(err: unknown): Promise<ExchangeResult> {
    const info = classifyPlaidError(err);
    const at = new Date().toISOString();
    const wasCancelled = attempt.cancellation.aborted;
    const lastChance = isLastChance(attempt);
    if (info.reachedPlaid === 'maybe' && lastChance && !wasCancelled) {
      // No attempt will follow to tell what happened: record it now rather than let Temporal
      // time the activity out with the exchange left in doubt.
      const error = {
        code: EXCHANGE_OUTCOME_UNKNOWN,
        message: `attempt ${attempt.owner} sent /item/public_token/exchange and lost the answer at ${at} (${info.code} ${info.message}), and the time for retries is up; the Item, if Plaid created it, is not stored`,
      };
      await ledger.settle({ ...fence, state: 'unknown', error });
      return { ok: false, error: { ...error, retryable: false } };
    }
    if (info.reachedPlaid === 'maybe') {
      const lostBecause = wasCancelled
        ? ' (the attempt was cancelled)'
        : keeper.lost.aborted
          ? ` (${(keeper.lost.reason as Error).message})`
          : '';
      await ledger.callEnded({
        ...fence,
        inDoubtReason: `attempt ${attempt.owner} sent /item/public_token/exchange and lost the answer at ${at}: ${info.code} ${info.message}${lostBecause}`,
      });
      await ledger.release(fence);
      if (wasCancelled) throw cancelled(attempt, 'exchanging a public token');
      throw ApplicationFailure.retryable(
        `exchanging a public token: ${info.code} ${info.message}: the request may have reached Plaid; ` +
          'the next attempt tells whether it was exchanged',
        'EXCHANGE_ANSWER_LOST',
        details(info),
      );
    }
    if (lease.kind === 'acquired' && lease.inDoubt && (!info.retryable || lastChance)) {
      const error = { code: EXCHANGE_OUTCOME_UNKNOWN, message: unknownMessage(lease.inDoubt, info, at) };
      await ledger.settle({ ...fence, state: 'unknown', error });
      return { ok: false, error: { ...error, retryable: false } };
    }
    if (info.retryable) {
      await ledger.callEnded({ ...fence, inDoubtReason: null });
      await ledger.release(fence);
      if (wasCancelled) throw cancelled(attempt, 'exchanging a public token');
      throw plaidFailure(err, 'exchanging a public token');
    }
    const error = { code: info.code, message: info.message };
    await ledger.settle({ ...fence, state: 'failed', error });
    return { ok: false, error: { ...error, retryable: false } };
  }

  function unknownMessage(inDoubt: InDoubt, info: PlaidErrorInfo, at: string): string {
    return (
      `the public token may have been exchanged at Plaid, but its access token never reached linkflow: ${inDoubt.reason}. ` +
      `Attempt ${attempt.owner} tried again at ${at} and Plaid answered ${info.code} (${info.message}), ` +
      'which is also what it answers for a token already exchanged; the Item, if Plaid created it, is not stored'
    );
  }
}

/** The result an intent already settled in the store stands for, or null while it is open. */
function settledResult(known: ExchangeRecord | null): ExchangeResult | null {
  if (!known) return null;
  if (known.state === 'exchanged' && known.itemId) {
    return {
      ok: true,
      itemId: known.itemId,
      ...(known.duplicateOf && { duplicateOf: known.duplicateOf }),
      ...(known.replaces && { replaces: known.replaces }),
    };
  }
  if (known.state === 'duplicate' && known.duplicateOf) {
    const e = (known.error ?? {}) as { code?: unknown; message?: unknown; original?: unknown };
    return {
      ok: false,
      error: {
        code: typeof e.code === 'string' ? e.code : 'DUPLICATE_ITEM',
        message:
          typeof e.message === 'string'
            ? e.message
            : `not exchanged: this Item duplicates Item ${known.duplicateOf}`,
        retryable: false,
      },
      duplicate: { of: known.duplicateOf, original: (e.original as ItemDetails | undefined) ?? null },
    };
  }
  if (known.state === 'failed' || known.state === 'unknown') {
    return { ok: false, error: { ...errorOf(known.error, known.state), retryable: false } };
  }
  return null;
}

function errorOf(stored: unknown, state: 'failed' | 'unknown'): { code: string; message: string } {
  const e = (stored ?? {}) as { code?: unknown; message?: unknown };
  return {
    code:
      typeof e.code === 'string'
        ? e.code
        : state === 'unknown'
          ? EXCHANGE_OUTCOME_UNKNOWN
          : 'EXCHANGE_FAILED',
    message: typeof e.message === 'string' ? e.message : 'the public token could not be exchanged',
  };
}

function details(info: PlaidErrorInfo) {
  return { code: info.code, type: info.type, status: info.status, request_id: info.requestId };
}
