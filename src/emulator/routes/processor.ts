/**
 * `/processor/token/create`: hands one checking or savings account of an Item to a payment
 * processor from Plaid's list.
 */
import { ProcessorTokenCreateRequestProcessorEnum, type ProcessorTokenCreateResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail } from '../errors';
import { isAchEligible } from '../fixtures';
import { itemForAccessToken, requireHealthyItem, selectAccounts } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';
import { requireVerifiedAccount } from '../verification';

/** Plaid's processor names, straight from the plaid package's enum. */
const PROCESSORS = new Set<string>(Object.values(ProcessorTokenCreateRequestProcessorEnum));

const processorTokenSchema = z.strictObject({
  access_token: nonEmpty(),
  account_id: nonEmpty(),
  processor: nonEmpty(),
});

export function registerProcessorRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/processor/token/create', processorTokenSchema, (input, call) => {
    if (!PROCESSORS.has(input.processor)) {
      throw fail.invalidField(`processor must be a supported processor, got "${input.processor}"`);
    }
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    requireHealthyItem(ctx, item);
    const [account] = selectAccounts(item, [input.account_id]);
    if (!account || !isAchEligible(account)) {
      throw fail.invalidField(
        'account_id must identify a checking or savings account to create a processor token',
      );
    }
    requireVerifiedAccount(account);
    const token = `processor-sandbox-${ctx.rng.uuid()}`;
    ctx.state.processor_tokens[token] = {
      processor_token: token,
      processor: input.processor,
      item_id: item.item_id,
      account_id: account.account_id,
      created_at: ctx.now(),
    };
    ctx.changed();
    const body: ProcessorTokenCreateResponse = { processor_token: token, request_id: call.requestId };
    return { body };
  });
}
