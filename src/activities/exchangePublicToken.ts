/**
 * Exchanges one public token for an Item, exactly once.
 *
 * Order matters for "nothing is lost": (1) look the token up in the store — a retry after a crash
 * finds the Item already saved; (2) record the intent before calling Plaid, so we never spend a
 * single-use token while the store is unreachable; (3) exchange; (4) save the access token
 * encrypted, retrying the write in-process while we still hold the token in memory. Only the
 * item id leaves the activity: the access token never enters workflow history.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { classifyPlaidError } from '../plaid/errors';
import type { ExchangePublicTokenInput } from '../workflows/activityTypes';
import type { ExchangeResult } from '../workflows/types';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';

/** How long to keep trying to store an access token we hold only in memory. */
const SAVE_BUDGET_MS = 120_000;

export async function exchangePublicToken(
  deps: ActivityDeps,
  input: ExchangePublicTokenInput,
): Promise<ExchangeResult> {
  const { plaid, store } = deps;
  const known = await store.findExchange(input.publicToken);
  if (known?.state === 'exchanged' && known.itemId) return { ok: true, itemId: known.itemId };
  if (known?.state === 'failed') return { ok: false, error: errorOf(known.error) };

  await store.beginExchange({ publicToken: input.publicToken, linkToken: input.linkToken });

  let accessToken: string;
  let itemId: string;
  try {
    const { data } = await plaid.itemPublicTokenExchange({ public_token: input.publicToken });
    accessToken = data.access_token;
    itemId = data.item_id;
  } catch (err) {
    const info = classifyPlaidError(err);
    if (info.retryable) throw plaidFailure(err, 'exchanging a public token');
    const error = {
      code: info.code,
      message:
        known?.state === 'pending' && info.code === 'INVALID_PUBLIC_TOKEN'
          ? `${info.message} (an earlier attempt may have exchanged it but could not record the result)`
          : info.message,
    };
    await store.failExchange({ publicToken: input.publicToken, error });
    return { ok: false, error: { ...error, retryable: false } };
  }

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
  return { ok: true, itemId };
}

/**
 * The access token exists only in this process's memory until saved: keep trying for a while
 * (about 2 minutes) rather than letting Temporal retry, which would re-exchange a spent token.
 */
async function saveWithRetry(save: () => Promise<void>): Promise<void> {
  const giveUpAt = Date.now() + SAVE_BUDGET_MS;
  let delay = 250;
  for (;;) {
    try {
      return await save();
    } catch (err) {
      if (Date.now() + delay > giveUpAt) {
        throw ApplicationFailure.nonRetryable(
          `the Item was exchanged but could not be stored: ${(err as Error).message}`,
          'ITEM_STORE_UNAVAILABLE',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  }
}

function errorOf(stored: unknown): { code: string; message: string } {
  const e = (stored ?? {}) as { code?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'EXCHANGE_FAILED',
    message: typeof e.message === 'string' ? e.message : 'the public token could not be exchanged',
  };
}
