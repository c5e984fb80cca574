/**
 * The Hono app: Plaid's routes, the control routes and the Link page. Anything else answers as
 * Plaid does for an unknown endpoint (404 NOT_FOUND).
 */
import { Hono } from 'hono';
import type { EmulatorContext } from './context';
import { PlaidApiError } from './errors';
import { newRequestId } from './ids';
import { registerLinkPage } from './linkPage';
import { PlaidRouter, plaidErrorResponse } from './plaidRouter';
import { registerAccountRoutes } from './routes/accounts';
import { registerControlRoutes } from './routes/control';
import { registerInstitutionRoutes } from './routes/institutions';
import { registerItemRoutes } from './routes/items';
import { registerLinkTokenRoutes } from './routes/linkTokens';
import { registerProcessorRoutes } from './routes/processor';
import { registerSandboxRoutes } from './routes/sandbox';
import { registerTransferRoutes } from './routes/transfer';
import { registerUserRoutes } from './routes/users';
import { registerWebhookKeyRoutes } from './routes/webhookKeys';
import { registerWebhookReplayRoutes } from './routes/webhookReplay';

export function buildApp(ctx: EmulatorContext, reset: () => void): Hono {
  const app = new Hono();
  const plaid = new PlaidRouter(app, ctx);
  registerUserRoutes(plaid, ctx);
  registerLinkTokenRoutes(plaid, ctx);
  registerItemRoutes(plaid, ctx);
  registerAccountRoutes(plaid, ctx);
  registerProcessorRoutes(plaid, ctx);
  registerTransferRoutes(plaid, ctx);
  registerWebhookKeyRoutes(plaid, ctx);
  registerSandboxRoutes(plaid, ctx);
  registerInstitutionRoutes(plaid, ctx);
  registerControlRoutes(app, { ctx, plaidPaths: plaid.paths, reset });
  registerWebhookReplayRoutes(app, ctx);
  registerLinkPage(app, ctx);

  app.notFound((c) => plaidErrorResponse(c, ctx, new PlaidApiError('NOT_FOUND'), newRequestId(), c.req.path));
  app.onError((err, c) => plaidErrorResponse(c, ctx, err, newRequestId(), c.req.path));
  return app;
}
