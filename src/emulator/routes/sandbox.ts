/**
 * `/sandbox/public_token/create`: an Item without going through Link (no Link session, no LINK
 * webhooks), as Plaid's Sandbox offers for tests.
 */
import type { SandboxPublicTokenCreateResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail, PlaidApiError } from '../errors';
import { findInstitution, unsupportedRequiredProducts } from '../fixtures';
import { createItem, issuePublicToken } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';
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

export function registerSandboxRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
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
