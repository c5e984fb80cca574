/**
 * Secret reads, behind the secrets key (LINKFLOW_SECRETS_API_KEY): an Item's access token and what
 * the payment step produced. Each read is written to the append-only audit BEFORE the value leaves
 * (no audit row, no secret); responses are `Cache-Control: no-store`; logs name what was read,
 * never the value. `GET /audit/secret-reads` lists the trail.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { SecretReadAudit } from '../../store/audit';
import type { ItemsStore } from '../../store/items';
import type { PaymentCredentialsStore } from '../../store/paymentCredentials';
import { ApiError, validationError } from '../errors';
import { secretReadsQuerySchema } from '../handoffSchemas';
import { keyFingerprint, requireSecretsKey } from '../middleware/secretsAuth';
import type { AppEnv } from '../types';

export interface SecretRoutesDeps {
  store: Pick<ItemsStore, 'readAccessToken'> &
    Pick<PaymentCredentialsStore, 'readPaymentCredentials'> &
    SecretReadAudit;
  apiKey: string;
  secretsApiKey: string | null | undefined;
}

/** The caller's address as the socket saw it (the node server's `incoming`); null under app.request(). */
function remoteAddress(c: Context): string | null {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? null;
}

export function secretRoutes(deps: SecretRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const auth = requireSecretsKey({ secretsApiKey: deps.secretsApiKey, apiKey: deps.apiKey });
  // One secrets key at a time: the audit names it by fingerprint.
  const keyId = deps.secretsApiKey ? keyFingerprint(deps.secretsApiKey) : '';

  const audit = (c: Context<AppEnv>, route: string, subject: { item_id?: string; session_id?: string }) =>
    deps.store.recordSecretRead({
      key: keyId,
      route,
      item_id: subject.item_id ?? null,
      session_id: subject.session_id ?? null,
      request_id: c.var.requestId,
      remote: remoteAddress(c),
    });

  app.get('/items/:item_id/access-token', auth, async (c) => {
    const itemId = c.req.param('item_id');
    const read = await deps.store.readAccessToken(itemId);
    if (read.state === 'missing') throw new ApiError(404, 'ITEM_NOT_FOUND', `no Item ${itemId}`);
    if (read.state === 'removed') {
      throw new ApiError(410, 'ITEM_REMOVED', `Item ${itemId} was removed; its access token is destroyed`, {
        removed_at: read.removedAt,
      });
    }
    await audit(c, 'GET /items/:item_id/access-token', { item_id: itemId });
    c.var.log.info({ item_id: itemId, key: keyId }, 'access token read (audited)');
    return c.json({ item_id: itemId, access_token: read.accessToken });
  });

  app.get('/link/sessions/:session_id/payment-account/credentials', auth, async (c) => {
    const sessionId = c.req.param('session_id');
    const read = await deps.store.readPaymentCredentials(sessionId);
    if (read.state === 'missing') {
      throw new ApiError(
        404,
        'PAYMENT_CREDENTIALS_NOT_FOUND',
        `session ${sessionId} has no payment account set up (unknown session, or the payment step has not run)`,
      );
    }
    if (read.state === 'removed') {
      throw new ApiError(
        410,
        'ITEM_REMOVED',
        `the payment account's Item ${read.itemId} was removed; its credentials are destroyed`,
      );
    }
    await audit(c, 'GET /link/sessions/:session_id/payment-account/credentials', {
      session_id: sessionId,
      item_id: read.credentials.item_id,
    });
    c.var.log.info(
      { session_id: sessionId, item_id: read.credentials.item_id, key: keyId },
      'payment credentials read (audited)',
    );
    return c.json(read.credentials);
  });

  app.get('/audit/secret-reads', auth, async (c) => {
    const parsed = secretReadsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw validationError(parsed.error, 'query');
    const { item_id, session_id, limit } = parsed.data;
    const reads = await deps.store.listSecretReads({
      limit,
      ...(item_id && { itemId: item_id }),
      ...(session_id && { sessionId: session_id }),
    });
    return c.json({ reads });
  });

  return app;
}
