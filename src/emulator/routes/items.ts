/**
 * `/item/public_token/exchange`, `/item/get`, `/item/remove`.
 */
import type { ItemGetResponse, ItemPublicTokenExchangeResponse, ItemRemoveResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { exchangePublicToken, itemForAccessToken, removeItem } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';
import { itemWithConsentView } from '../views';

const exchangeSchema = z.strictObject({ public_token: nonEmpty() });
const accessTokenSchema = z.strictObject({ access_token: nonEmpty() });
const itemRemoveSchema = z.strictObject({
  access_token: nonEmpty(),
  reason_code: z.string().optional(),
  reason_note: z.string().optional(),
});

export function registerItemRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/item/public_token/exchange', exchangeSchema, (input, call) => {
    const { accessToken, item } = exchangePublicToken(ctx, call.clientId, input.public_token);
    const body: ItemPublicTokenExchangeResponse = {
      access_token: accessToken,
      item_id: item.item_id,
      request_id: call.requestId,
    };
    return { body };
  });

  router.post('/item/get', accessTokenSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    const body: ItemGetResponse = {
      item: itemWithConsentView(ctx, item),
      status: null,
      request_id: call.requestId,
    };
    return { body };
  });

  router.post('/item/remove', itemRemoveSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    removeItem(ctx, item);
    const body: ItemRemoveResponse = { request_id: call.requestId };
    return { body };
  });
}
