/**
 * The secrets key (LINKFLOW_SECRETS_API_KEY), separate from the API key: unset, secret routes are
 * off (403 naming the variable); the ordinary API key is refused (403); anything else is 401.
 * The audit knows the key only by its fingerprint (`keyFingerprint`).
 */
import { createHash } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors';
import type { AppEnv } from '../types';
import { hasValidToken, unauthorized } from './auth';

/** A key's public name: enough to tell keys apart in the audit, useless to call with. */
export const keyFingerprint = (key: string) =>
  `sha256:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16)}`;

export function requireSecretsKey(opts: { secretsApiKey: string | null | undefined; apiKey: string }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    c.header('Cache-Control', 'no-store');
    if (!opts.secretsApiKey) {
      throw new ApiError(
        403,
        'SECRETS_API_DISABLED',
        'secret reads are off: set LINKFLOW_SECRETS_API_KEY to enable them (a key separate from LINKFLOW_API_KEY)',
      );
    }
    if (hasValidToken(c, [opts.secretsApiKey])) {
      await next();
      c.res.headers.set('Cache-Control', 'no-store');
      return;
    }
    if (hasValidToken(c, [opts.apiKey])) {
      throw new ApiError(
        403,
        'SECRETS_KEY_REQUIRED',
        'the API key cannot read secrets: use the key in LINKFLOW_SECRETS_API_KEY',
      );
    }
    c.header('WWW-Authenticate', 'Bearer realm="linkflow-secrets"');
    throw unauthorized();
  });
}
