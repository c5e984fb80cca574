/**
 * `/webhook_verification_key/get`: the public JWK for a `kid` taken from a webhook's JWT header,
 * including keys that have since been rotated out (with their `expired_at`).
 */
import type { WebhookVerificationKeyGetResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { PlaidApiError } from '../errors';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';

const keyGetSchema = z.strictObject({ key_id: nonEmpty() });

export function registerWebhookKeyRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/webhook_verification_key/get', keyGetSchema, (input, call) => {
    const key = ctx.keys.publicKey(input.key_id);
    if (!key) throw new PlaidApiError('INVALID_WEBHOOK_VERIFICATION_KEY_ID');
    const body: WebhookVerificationKeyGetResponse = { key, request_id: call.requestId };
    return { body };
  });
}
