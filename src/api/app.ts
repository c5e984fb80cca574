/**
 * The linkflow HTTP API as a Hono app built from injected dependencies, so every route can be
 * exercised with `app.request()`; `src/main/api.ts` serves it with @hono/node-server.
 */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { registerEventDeliveryMetrics } from '../observability/eventMetrics';
import { createApiMetrics } from '../observability/metrics';
import { createDemoRoutes } from '../web/demoPage';
import type { ApiDeps, Clock } from './deps';
import { ApiError, classifyUnexpectedError } from './errors';
import { createItemService } from './itemService';
import { accessLog } from './middleware/accessLog';
import { requestId } from './middleware/requestId';
import { plaidWebhookKeySource } from './plaidKeys';
import { createRateLimiter, limitSessionCreation } from './rateLimit';
import { codecRoutes } from './routes/codec';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { itemRoutes } from './routes/items';
import { secretRoutes } from './routes/secrets';
import { sessionRoutes } from './routes/sessions';
import { webhookRoutes } from './routes/webhooks';
import { createSessionService } from './sessionService';
import type { AppEnv } from './types';
import { createWebhookVerifier, type WebhookVerifier } from './webhookVerifier';

export type { ApiDeps } from './deps';

const systemClock: Clock = { now: () => new Date() };

export function createApp(deps: ApiDeps): Hono<AppEnv> {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = createApiMetrics(deps.metrics);
  const temporalTimeoutMs = config.temporalTimeoutMs ?? 5000;

  let verifier: WebhookVerifier | null = null;
  if (config.verifyWebhooks) {
    verifier = createWebhookVerifier({
      fetchKey:
        deps.webhookKeys ??
        plaidWebhookKeySource(deps.plaid, { timeoutMs: config.plaidKeyTimeoutMs ?? 3000, logger }),
      now: () => clock.now(),
      maxAgeSeconds: config.webhookMaxAgeSeconds ?? 300,
    });
  } else {
    logger.warn(
      '!!! PLAID_VERIFY_WEBHOOKS=false: Plaid webhooks are NOT verified. Anyone who can reach ' +
        '/webhooks/plaid can inject events into Link sessions. Local experiments only. !!!',
    );
  }

  const app = new Hono<AppEnv>();
  app.use('*', requestId(logger));
  app.use('*', accessLog(metrics));
  app.use('*', secureHeaders());

  app.route(
    '/',
    healthRoutes({
      temporal: deps.temporal,
      registry: deps.metrics,
      metricsToken: config.metricsToken ?? null,
    }),
  );
  app.route('/', docsRoutes());
  app.route(
    '/',
    webhookRoutes({
      temporal: deps.temporal,
      verifier,
      metrics,
      clock,
      maxBodyBytes: config.webhookMaxBodyBytes ?? 64 * 1024,
      temporalTimeoutMs,
      ...(deps.signWebhookSignal && { signSignal: deps.signWebhookSignal }),
      ...(deps.handoff && {
        findItemSession: async (itemId: string) =>
          (await deps.handoff?.store.getItem(itemId))?.sessionId ?? null,
      }),
    }),
  );
  const service = createSessionService({
    client: deps.temporal.client,
    taskQueue: deps.temporal.taskQueue,
    plaid: deps.plaid,
    sessions: deps.sessions,
    config,
    emitEvents: Boolean(deps.handoff?.events),
    clock,
    logger,
  });
  const creationLimit = limitSessionCreation(
    config.sessionRateLimit ? createRateLimiter(config.sessionRateLimit, () => clock.now().getTime()) : null,
  );
  if (deps.handoff) {
    const { handoff } = deps;
    registerEventDeliveryMetrics(deps.metrics, handoff.store);
    // Before the session routes: their `/link/sessions/*` API-key check must not claim the
    // payment-credentials route, which takes the secrets key.
    app.route(
      '/',
      secretRoutes({
        store: handoff.store,
        apiKey: config.apiKey,
        secretsApiKey: config.secretsApiKey,
      }) as never,
    );
    const items = createItemService({
      store: handoff.store,
      plaid: handoff.plaid,
      events: handoff.events && {
        client: deps.temporal.client,
        taskQueue: deps.temporal.taskQueue,
        retry: handoff.events.retry,
      },
      logger,
    });
    app.route('/', itemRoutes({ service: items, apiKey: config.apiKey }));
  }
  app.route(
    '/',
    sessionRoutes({
      service,
      apiKey: config.apiKey,
      maxBodyBytes: config.jsonMaxBodyBytes ?? 64 * 1024,
      creationLimit,
    }),
  );
  app.route(
    '/demo',
    createDemoRoutes({
      service,
      config,
      creationLimit,
      ...(deps.handoff && { events: { enabled: deps.handoff.events !== null, store: deps.handoff.store } }),
    }),
  );
  app.route(
    '/',
    codecRoutes({
      codec: deps.codec,
      apiKey: config.apiKey,
      codecToken: config.codecToken ?? null,
      uiOrigins: config.uiOrigins,
      maxBodyBytes: config.codecMaxBodyBytes ?? 4 * 1024 * 1024,
    }),
  );

  app.notFound((c) =>
    c.json(new ApiError(404, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`).body(), 404),
  );
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.body(), err.status);
    if (err instanceof HTTPException) {
      const status = err.status;
      return c.json(
        new ApiError(status as ApiError['status'], `HTTP_${status}`, err.message || 'request refused').body(),
        status,
      );
    }
    const known = classifyUnexpectedError(err);
    if (known) {
      (c.var.log ?? logger).warn({ err, code: known.code }, known.message);
      return c.json(known.body(), known.status);
    }
    (c.var.log ?? logger).error({ err }, 'unhandled error');
    return c.json(new ApiError(500, 'INTERNAL_ERROR', 'internal error').body(), 500);
  });
  return app;
}
