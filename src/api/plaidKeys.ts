/**
 * `/webhook_verification_key/get` through the Plaid client, as a WebhookKeySource: a 4xx
 * "invalid input" from Plaid means there is no such key (the webhook is refused, 401); anything
 * else (network, 5xx, our credentials refused) means the key could not be checked (503, so Plaid
 * retries once we can).
 */

import type { Logger } from '../observability/logger';
import { classifyPlaidError } from '../plaid/errors';
import type { PlaidLinkApi, WebhookKeySource, WebhookVerificationKey } from './deps';

const NO_SUCH_KEY_TYPES = new Set(['INVALID_INPUT', 'INVALID_REQUEST']);

export function plaidWebhookKeySource(
  plaid: Pick<PlaidLinkApi, 'webhookVerificationKeyGet'>,
  opts: { timeoutMs?: number; logger?: Logger } = {},
): WebhookKeySource {
  return async (kid) => {
    try {
      const res = await plaid.webhookVerificationKeyGet({ key_id: kid }, { timeout: opts.timeoutMs ?? 3000 });
      return res.data.key as WebhookVerificationKey;
    } catch (err) {
      const info = classifyPlaidError(err);
      if (
        info.status !== null &&
        info.status >= 400 &&
        info.status < 500 &&
        NO_SUCH_KEY_TYPES.has(info.type)
      ) {
        opts.logger?.warn(
          { kid, plaid_error: info.code },
          'Plaid knows no webhook verification key with this kid',
        );
        return null;
      }
      opts.logger?.error(
        { kid, plaid_error: info.code, status: info.status, message: info.message },
        'could not fetch the webhook verification key from Plaid',
      );
      throw err;
    }
  };
}
