/**
 * The Link session's activities, built from their dependencies (`createActivities(deps)`), in the
 * style of temporalio/samples-typescript. The workflow knows them only by `LinkSessionActivities`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PlaidApi } from 'plaid';
import type { DuplicateMode } from '../store/duplicateItems';
import type { ExchangePublicTokenInput, LinkSessionActivities } from '../workflows/activityTypes';
import type { EventActivities } from '../workflows/eventActivityTypes';
import type { ExchangeResult } from '../workflows/types';
import { describeItem } from './describeItem';
import { createEventActivities, type EventActivityDeps } from './events';
import { exchangePublicToken } from './exchangePublicToken';
import { fetchLinkSessionResults } from './fetchLinkSessionResults';
import { createPaymentLinkToken, createVerificationLinkToken } from './linkTokens';
import { setupPayment } from './setupPayment';
import type { ActivityStore } from './store';

export interface ActivityDeps {
  plaid: PlaidApi;
  store: ActivityStore;
  /** Timeout of a once-only Plaid call (exchange, processor token); default PLAID_CALL_TIMEOUT_MS. */
  plaidCallTimeoutMs?: number;
  /** Outbound events (LINKFLOW_EVENTS_URL/SECRET); without it the event activities send nothing. */
  events?: EventActivityDeps;
  /**
   * LINKFLOW_DUPLICATE_ITEMS: what the exchange does with a public token whose Item the client
   * user already has, when the workflow asks for the check (default `skip`: never exchanged).
   */
  duplicateItems?: DuplicateMode;
}

export function createActivities(deps: ActivityDeps): LinkSessionActivities & EventActivities {
  return {
    ...createEventActivities(deps.events),
    exchangePublicToken: (input) => whileHeartbeating(() => exchangeAndDescribe(input)),
    fetchLinkSessionResults: (input) => fetchLinkSessionResults(deps, input),
    describeItem: (input) => describeItem(deps, input),
    setupPayment: (input) => setupPayment(deps, input),
    createPaymentLinkToken: (input) => createPaymentLinkToken(deps, input),
    createVerificationLinkToken: (input) => createVerificationLinkToken(deps, input),
  };

  async function exchangeAndDescribe(input: ExchangePublicTokenInput): Promise<ExchangeResult> {
    const result = await exchangePublicToken(deps, input);
    if (!input.describe || !result.ok) return result;
    // The token is spent and the access token stored: a failure to describe must not fail (and
    // retry) the exchange. The workflow describes the Item on its own when details are missing.
    const details = await describeItem(deps, { itemId: result.itemId }).catch((err: unknown) => {
      activityLog()?.warn('describing the Item after its exchange failed; the workflow will retry it', {
        itemId: result.itemId,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    });
    return details ? { ...result, details } : result;
  }
}

/**
 * Heartbeats every `everyMs` while `work` runs, so Temporal tells a live activity (Plaid or the
 * store merely slow) from one whose worker died: with a heartbeat timeout the latter is retried
 * within that timeout instead of after its whole start-to-close timeout. Outside Temporal (unit
 * tests) it just runs `work`.
 */
export async function whileHeartbeating<T>(work: () => Promise<T>, everyMs = 2_000): Promise<T> {
  let context: Context;
  try {
    context = Context.current();
  } catch {
    return work();
  }
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Activity-scoped logger when running inside Temporal, silent elsewhere (unit tests). */
export function activityLog() {
  try {
    return Context.current().log;
  } catch {
    return undefined;
  }
}

export { ApplicationFailure };
