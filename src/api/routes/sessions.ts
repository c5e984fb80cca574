/** The session routes of the contract, behind the API key. */
import { Hono, type MiddlewareHandler } from 'hono';
import { readJson } from '../body';
import { validationError } from '../errors';
import { requireApiKey } from '../middleware/auth';
import { limitBody } from '../middleware/bodyLimit';
import {
  createSessionRequestSchema,
  idempotencyKeySchema,
  listSessionsQuerySchema,
  paymentLinkPublicTokenRequestSchema,
  selectPaymentAccountRequestSchema,
  verificationLinkRequestSchema,
} from '../schemas';
import type { SessionService } from '../sessionService';
import type { AppEnv } from '../types';

export interface SessionRoutesDeps {
  service: SessionService;
  apiKey: string;
  maxBodyBytes: number;
  /** The per-caller limit on session creation (see ../rateLimit.ts). */
  creationLimit?: MiddlewareHandler<AppEnv>;
}

export function sessionRoutes(deps: SessionRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { service } = deps;
  app.use('/link/sessions/*', requireApiKey(deps.apiKey), limitBody(deps.maxBodyBytes));

  const noLimit: MiddlewareHandler<AppEnv> = async (_c, next) => next();
  app.post('/link/sessions', deps.creationLimit ?? noLimit, async (c) => {
    const rawKey = c.req.header('idempotency-key');
    let idempotencyKey: string | null = null;
    if (rawKey !== undefined) {
      const parsed = idempotencyKeySchema.safeParse(rawKey);
      if (!parsed.success) throw validationError(parsed.error, 'Idempotency-Key');
      idempotencyKey = parsed.data;
    }
    const request = await readJson(c, createSessionRequestSchema);
    const result = await service.createSession(request, idempotencyKey);
    if (result.status === 200) c.header('Idempotent-Replayed', 'true');
    c.var.log.info(
      { session_id: result.body.session_id, replayed: result.status === 200 },
      result.status === 201 ? 'link session created' : 'idempotent replay',
    );
    return c.json(result.body, result.status);
  });

  app.get('/link/sessions', async (c) => {
    const parsed = listSessionsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw validationError(parsed.error, 'query');
    const sessions = await service.listSessions(parsed.data.client_user_id);
    return c.json({ sessions });
  });

  app.get('/link/sessions/:session_id', async (c) => {
    return c.json(await service.getSession(c.req.param('session_id')));
  });

  app.post('/link/sessions/:session_id/payment-account', async (c) => {
    const sessionId = c.req.param('session_id');
    const { account_id } = await readJson(c, selectPaymentAccountRequestSchema);
    const view = await service.selectPaymentAccount(sessionId, account_id);
    c.var.log.info({ session_id: sessionId, account_id }, 'payment account selected');
    return c.json(view);
  });

  // Plaid's step 5: "link a different account" with a single-Item, auth-only Link.
  app.post('/link/sessions/:session_id/payment-link', async (c) => {
    const sessionId = c.req.param('session_id');
    const created = await service.createPaymentLink(sessionId);
    c.var.log.info({ session_id: sessionId }, 'payment Link created');
    return c.json(created, 201);
  });

  app.post('/link/sessions/:session_id/payment-link/public-token', async (c) => {
    const sessionId = c.req.param('session_id');
    const { public_token } = await readJson(c, paymentLinkPublicTokenRequestSchema);
    await service.addPaymentLinkPublicToken(sessionId, public_token);
    c.var.log.info({ session_id: sessionId }, "payment Link's public token handed to the session");
    return c.json({ accepted: true }, 202);
  });

  app.post('/link/sessions/:session_id/verification-link', async (c) => {
    const sessionId = c.req.param('session_id');
    const { item_id } = await readJson(c, verificationLinkRequestSchema);
    const created = await service.createVerificationLink(sessionId, item_id);
    c.var.log.info({ session_id: sessionId, item_id }, 'verification (update mode) Link created');
    return c.json(created, 201);
  });

  // Extension: the front end finished update-mode Link; the session reads the Item again now
  // instead of at its next scheduled refresh.
  app.post('/link/sessions/:session_id/items/:item_id/refresh', async (c) => {
    const sessionId = c.req.param('session_id');
    await service.refreshItem(sessionId, c.req.param('item_id'));
    return c.json({ accepted: true }, 202);
  });

  return app;
}
