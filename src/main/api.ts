/**
 * `npm run api`: the HTTP API as a production process, configured by env (see CONTRACT.md).
 * Needs TEMPORAL_ADDRESS (or a TEMPORAL_* profile), DATABASE_URL and the secrets, like the worker;
 * `npm start` runs everything embedded instead.
 *
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApp } from '../api/app';
import { apiConfigFromEnv, httpLimitsFromEnv } from '../api/config';
import { serveApp } from '../api/server';
import { ConfigError, loadEnv } from '../config/env';
import { createLogger } from '../observability/logger';
import { registerOutcomeGauges } from '../observability/metrics';
import { connectClient } from '../temporal/connection';
import { webhookSignalSigner } from '../temporal/webhookSignalMac';
import { demoConfigFromEnv } from '../web/demoConfig';
import { handoffDeps } from './handoff';
import { openServices } from './services';

const logger = createLogger({ name: 'linkflow-api' });

try {
  const env = loadEnv();
  if (!env.DATABASE_URL) {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_URL: required by `npm run api` (PGlite is single-process; `npm start` runs everything embedded)',
    );
  }
  const services = await openServices(env, { allowDevSecrets: false });
  const client = await connectClient(
    { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE },
    services.codec,
  );
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'linkflow_api_' });
  registerOutcomeGauges(metrics, services.store);
  const app = createApp({
    temporal: { client, namespace: client.options.namespace, taskQueue: env.TEMPORAL_TASK_QUEUE },
    plaid: services.plaid,
    sessions: services.store,
    config: {
      ...apiConfigFromEnv(env, {
        apiKey: services.apiKey,
        uiOrigins: env.LINKFLOW_UI_ORIGINS,
        codecToken: services.codecToken,
      }),
      demo: demoConfigFromEnv(env),
    },
    logger,
    codec: services.codec,
    metrics,
    signWebhookSignal: webhookSignalSigner(services.keyring),
    handoff: handoffDeps(services),
  });
  const server = await serveApp(app, { hostname: env.HOST, port: env.PORT, ...httpLimitsFromEnv(env) });
  logger.info({ url: server.url, task_queue: env.TEMPORAL_TASK_QUEUE }, `linkflow API on ${server.url}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await server.close().catch((err) => logger.error({ err }, 'closing the HTTP server failed'));
    await client.connection.close().catch(() => undefined);
    await services.close().catch(() => undefined);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(signal));
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
