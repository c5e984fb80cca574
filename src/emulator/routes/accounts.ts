/**
 * `/accounts/get` and `/auth/get`.
 *
 * Auth answers only for Items initialised with `auth` (PRODUCTS_NOT_SUPPORTED otherwise, worded
 * after whether the institution or the link token lacked it) and only for checking and savings
 * accounts: an Item without one is NO_AUTH_ACCOUNTS.
 */
import { type AccountsGetResponse, type AuthGetResponse, Products } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { PlaidApiError } from '../errors';
import { findInstitution, isAchEligible, supportsAuth } from '../fixtures';
import { itemForAccessToken, requireHealthyItem, selectAccounts } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';
import { isVerified, unverifiedError } from '../verification';
import { accountView, itemView } from '../views';

const accountsSchema = z.strictObject({
  access_token: nonEmpty(),
  options: z
    .looseObject({
      account_ids: z.array(z.string()).optional(),
    })
    .optional(),
});

export function registerAccountRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/accounts/get', accountsSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    requireHealthyItem(ctx, item);
    const accounts = selectAccounts(item, input.options?.account_ids);
    const body: AccountsGetResponse = {
      accounts: accounts.map(accountView),
      item: itemView(item),
      request_id: call.requestId,
    };
    return { body };
  });

  router.post('/auth/get', accountsSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    requireHealthyItem(ctx, item);
    if (!item.products.includes(Products.Auth)) {
      const inst = item.institution_id === null ? undefined : findInstitution(item.institution_id);
      const message =
        inst && !supportsAuth(inst)
          ? 'The following products are not supported by this institution: Auth'
          : "The following products are not enabled for this Item: Auth. Include 'auth' in products or optional_products when creating the link_token";
      throw new PlaidApiError('PRODUCTS_NOT_SUPPORTED', { message });
    }
    const selected = selectAccounts(item, input.options?.account_ids);
    const withNumbers = selected.filter((a) => isAchEligible(a) && a.ach !== null);
    // Numbers of an account still awaiting micro-deposit verification are not served: Plaid
    // answers PRODUCT_NOT_READY until then (NO_AUTH_ACCOUNTS once verification failed or expired).
    const eligible = withNumbers.filter(isVerified);
    if (eligible.length === 0) {
      const blocked = withNumbers.map(unverifiedError).find((e) => e !== null);
      throw blocked ?? new PlaidApiError('NO_AUTH_ACCOUNTS');
    }
    const body: AuthGetResponse = {
      accounts: eligible.map(accountView),
      numbers: {
        ach: eligible.map((a) => ({
          account_id: a.account_id,
          account: a.ach?.account ?? '',
          routing: a.ach?.routing ?? '',
          wire_routing: a.ach?.wire_routing ?? null,
        })),
        eft: [],
        international: [],
        bacs: [],
      },
      item: itemView(item),
      request_id: call.requestId,
    };
    return { body };
  });
}
