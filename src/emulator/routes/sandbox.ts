/**
 * Plaid's Sandbox-only routes:
 *  - `/sandbox/public_token/create`: an Item without going through Link (no Link session, no LINK
 *    webhooks);
 *  - `/sandbox/item/reset_login`: the Item falls into ITEM_LOGIN_REQUIRED (`/item/get` shows it,
 *    product calls fail with it) and an ITEM `ERROR` webhook goes out, as Plaid documents;
 *  - `/sandbox/item/fire_webhook`: one of the Item webhooks Plaid's Sandbox can fire.
 */
import {
  SandboxItemFireWebhookRequestWebhookCodeEnum as Code,
  type SandboxItemFireWebhookResponse,
  type SandboxItemResetLoginResponse,
  type SandboxItemSetVerificationStatusResponse,
  type SandboxPublicTokenCreateResponse,
  WebhookType,
} from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail, PlaidApiError } from '../errors';
import { findInstitution, unsupportedRequiredProducts } from '../fixtures';
import { createItem, issuePublicToken, itemForAccessToken } from '../items';
import { sendItemWebhook } from '../itemWebhooks';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';
import { settleAutomatedVerification } from '../verification';
import { itemErrorView } from '../views';
import { findUserById, findUserByToken, userErrors } from './users';

const sandboxPublicTokenSchema = z.strictObject({
  institution_id: nonEmpty(),
  initial_products: z.array(z.string()).min(1),
  options: z
    .looseObject({
      webhook: z.string().optional(),
      override_username: z.string().nullable().optional(),
      override_password: z.string().nullable().optional(),
    })
    .optional(),
  user_token: z.string().optional(),
  user_id: z.string().optional(),
});

const resetLoginSchema = z.strictObject({ access_token: nonEmpty() });
const setVerificationStatusSchema = z.strictObject({
  access_token: nonEmpty(),
  account_id: nonEmpty(),
  verification_status: z.enum(['automatically_verified', 'verification_expired']),
});
const fireWebhookSchema = z.strictObject({
  access_token: nonEmpty(),
  webhook_type: z.enum(WebhookType).optional(),
  webhook_code: z.enum(Code),
});

/** The codes the emulator fires, the webhook type each belongs to, and the product it needs. */
const FIREABLE: Partial<Record<Code, { type: string; product?: string; extra?: Record<string, unknown> }>> = {
  [Code.DefaultUpdate]: { type: 'TRANSACTIONS', product: 'transactions', extra: { new_transactions: 0 } },
  [Code.SyncUpdatesAvailable]: {
    type: 'TRANSACTIONS',
    product: 'transactions',
    extra: { initial_update_complete: true, historical_update_complete: true },
  },
  [Code.NewAccountsAvailable]: { type: 'ITEM', extra: { error: null } },
  [Code.LoginRepaired]: { type: 'ITEM' },
  [Code.PendingDisconnect]: { type: 'ITEM', extra: { reason: 'INSTITUTION_MIGRATION' } },
  [Code.UserPermissionRevoked]: { type: 'ITEM', extra: { error: itemErrorView('USER_PERMISSION_REVOKED') } },
};

export function registerSandboxRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/sandbox/item/reset_login', resetLoginSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    item.error = 'ITEM_LOGIN_REQUIRED';
    ctx.changed();
    sendItemWebhook(ctx, item, {
      webhook_type: 'ITEM',
      webhook_code: 'ERROR',
      error: itemErrorView('ITEM_LOGIN_REQUIRED'),
    });
    const body: SandboxItemResetLoginResponse = { reset_login: true, request_id: call.requestId };
    return { body };
  });

  // Plays the outcome of an Automated Micro-deposit: the account leaves
  // pending_automatic_verification and the AUTH webhook goes out, as Plaid's Sandbox does.
  router.post('/sandbox/item/set_verification_status', setVerificationStatusSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    settleAutomatedVerification(ctx, item, input.account_id, input.verification_status);
    const body: SandboxItemSetVerificationStatusResponse = { request_id: call.requestId };
    return { body };
  });

  router.post('/sandbox/item/fire_webhook', fireWebhookSchema, (input, call) => {
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    const spec = FIREABLE[input.webhook_code];
    if (!spec) {
      throw fail.invalidField(
        `webhook_code ${input.webhook_code} is not fired by this emulator; use one of: ${Object.keys(FIREABLE).join(', ')}`,
      );
    }
    const type = input.webhook_type ?? spec.type;
    if (type !== spec.type) {
      throw fail.invalidField(`webhook_code ${input.webhook_code} is a ${spec.type} webhook, not ${type}`);
    }
    if (spec.product && !item.products.includes(spec.product))
      throw new PlaidApiError('SANDBOX_PRODUCT_NOT_ENABLED');
    if (!item.webhook) throw new PlaidApiError('SANDBOX_WEBHOOK_INVALID');
    if (input.webhook_code === Code.LoginRepaired) item.error = null;
    sendItemWebhook(ctx, item, { webhook_type: type, webhook_code: input.webhook_code, ...spec.extra });
    const body: SandboxItemFireWebhookResponse = { webhook_fired: true, request_id: call.requestId };
    return { body };
  });

  router.post('/sandbox/public_token/create', sandboxPublicTokenSchema, (input, call) => {
    const inst = findInstitution(input.institution_id);
    if (!inst) throw new PlaidApiError('INVALID_INSTITUTION');
    const missing = unsupportedRequiredProducts(inst, input.initial_products);
    if (missing.length > 0) {
      throw new PlaidApiError('PRODUCTS_NOT_SUPPORTED', {
        message: `The following products are not supported by this institution: ${missing.join(', ')}`,
      });
    }
    let userId: string | null = null;
    if (input.user_id !== undefined) {
      const user = findUserById(ctx, call.clientId, input.user_id);
      if (!user) throw userErrors.unknownUserId();
      userId = user.user_id;
    } else if (input.user_token !== undefined) {
      const user = findUserByToken(ctx, call.clientId, input.user_token);
      if (!user) throw userErrors.unknownUserToken();
      userId = user.user_id;
    }
    const webhook = input.options?.webhook ?? null;
    if (webhook !== null && !URL.canParse(webhook))
      throw fail.invalidField('options.webhook must be a valid URL');
    const item = createItem(ctx, {
      clientId: call.clientId,
      institution: inst,
      requestedProducts: input.initial_products,
      webhook,
      linkToken: null,
      linkSessionId: null,
      userId,
    });
    const publicToken = issuePublicToken(ctx, item);
    ctx.changed();
    const body: SandboxPublicTokenCreateResponse = { public_token: publicToken, request_id: call.requestId };
    return { body };
  });
}
