/**
 * The Link session's activities, built from their dependencies (`createActivities(deps)`), in the
 * style of temporalio/samples-typescript. The workflow knows them only by `LinkSessionActivities`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PlaidApi } from 'plaid';
import type { LinkSessionActivities } from '../workflows/activityTypes';
import { describeItem } from './describeItem';
import { exchangePublicToken } from './exchangePublicToken';
import { fetchLinkSessionResults } from './fetchLinkSessionResults';
import { setupPayment } from './setupPayment';
import type { ActivityStore } from './store';

export interface ActivityDeps {
  plaid: PlaidApi;
  store: ActivityStore;
}

export function createActivities(deps: ActivityDeps): LinkSessionActivities {
  return {
    exchangePublicToken: async (input) => {
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
    },
    fetchLinkSessionResults: (input) => fetchLinkSessionResults(deps, input),
    describeItem: (input) => describeItem(deps, input),
    setupPayment: (input) => setupPayment(deps, input),
  };
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
