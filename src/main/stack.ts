/**
 * The whole service on one machine, embedded, as a value: the Temporal dev server with its UI
 * (SQLite under the data dir, search attributes registered, the UI decoding payloads through the
 * API's codec routes), the Plaid emulator (unless PLAID_ENV is sandbox/production), PGlite (unless
 * DATABASE_URL), the worker and the API. `npm start` (src/main/start.ts) runs it until a signal;
 * `npm run demo` starts one in-process when no API answers.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApp } from '../api/app';
import { apiConfigFromEnv, httpLimitsFromEnv } from '../api/config';
import { serveApp } from '../api/server';
import type { Env } from '../config/env';
import { startEmulator } from '../emulator';
import type { Logger } from '../observability/logger';
import { registerOutcomeGauges } from '../observability/metrics';
import { ensureTemporalCli } from '../temporal/cli';
import { connectClient, connectWorker } from '../temporal/connection';
import { type DevServer, startDevServer } from '../temporal/devServer';
import { installWorkerRuntime } from '../temporal/runtime';
import { webhookSignalSigner } from '../temporal/webhookSignalMac';
import { demoConfigFromEnv } from '../web/demoConfig';
import { handoffDeps } from './handoff';
import { createServicesWorker } from './linkSessionWorker';
import { openServices } from './services';

export const TEMPORAL_PORT = 7233;
export const TEMPORAL_UI_PORT = 8233;

/** A startup problem with a one-line explanation for a person (no stack trace needed). */
export class StartupError extends Error {}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function requirePort(port: number, host: string, what: string, variable?: string) {
  if (!(await portFree(port, host))) {
    const fix = variable ? `set ${variable} to a free port` : 'stop the other process';
    throw new StartupError(
      `Port ${port} (${what}) is already in use on ${host}: ${fix}, or stop what holds it.`,
    );
  }
}

export interface StackInfo {
  apiUrl: string;
  apiKey: string;
  namespace: string;
  /** The embedded Temporal UI, when Temporal is embedded. */
  uiUrl?: string;
  /** The Plaid emulator, when PLAID_ENV=emulator. */
  emulatorUrl?: string;
  /** What `npm start` prints once everything is up. */
  banner: string[];
}

export interface EmbeddedStack {
  /** Starts every part in order; on failure the caller calls stop(). */
  start(): Promise<StackInfo>;
  /** Stops whatever has started so far, in reverse order; safe to call at any time, and twice. */
  stop(): Promise<void>;
}

export function createStack(env: Env, opts: { logger: Logger }): EmbeddedStack {
  const { logger } = opts;
  const stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  let stopped: Promise<void> | null = null;

  async function start(): Promise<StackInfo> {
    const started = Date.now();
    const embeddedTemporal = !env.TEMPORAL_ADDRESS;
    const emulated = env.PLAID_ENV === 'emulator';
    if (env.LINKFLOW_WORKER_METRICS_PORT) {
      await requirePort(
        env.LINKFLOW_WORKER_METRICS_PORT,
        '127.0.0.1',
        'worker metrics',
        'LINKFLOW_WORKER_METRICS_PORT',
      );
    }
    // Before the dev server or any connection: the SDK runtime is created once per process.
    const workerMetricsUrl = installWorkerRuntime({
      metricsPort: env.LINKFLOW_WORKER_METRICS_PORT,
      host: '127.0.0.1',
    });
    if (workerMetricsUrl) logger.info(`worker metrics on ${workerMetricsUrl}`);

    await requirePort(env.PORT, env.HOST, 'API', 'PORT');
    if (emulated)
      await requirePort(env.PLAID_EMULATOR_PORT, '127.0.0.1', 'Plaid emulator', 'PLAID_EMULATOR_PORT');
    if (embeddedTemporal) {
      await requirePort(TEMPORAL_PORT, '127.0.0.1', 'Temporal dev server');
      await requirePort(TEMPORAL_UI_PORT, '127.0.0.1', 'Temporal UI');
    }

    const services = await openServices(env, { allowDevSecrets: true });
    stops.unshift({ name: 'item store', stop: () => services.close() });
    const apiUrl = `http://${env.HOST}:${env.PORT}`;

    let devServer: DevServer | undefined;
    if (embeddedTemporal) {
      const cli = await ensureTemporalCli({ log: (line) => logger.info(line) });
      if (!cli) {
        throw new StartupError(
          'No Temporal CLI and no Go toolchain: install Go (it builds the CLI once, offline-safe) or set TEMPORAL_CLI to a Temporal CLI binary.',
        );
      }
      devServer = await startDevServer({
        port: TEMPORAL_PORT,
        ip: '127.0.0.1',
        uiPort: TEMPORAL_UI_PORT,
        dbFilename: join(services.dataDir, 'temporal.sqlite'),
        // The UI sends no credentials: its endpoint carries the codec token (see routes/codec.ts).
        uiCodecEndpoint: `${apiUrl}/codec/ui/${services.codecToken}`,
      });
      const server = devServer;
      stops.unshift({ name: 'Temporal dev server', stop: () => server.stop() });
    }

    let emulatorUrl: string | undefined;
    if (emulated) {
      const emulator = await startEmulator({
        port: env.PLAID_EMULATOR_PORT,
        stateFile: join(services.dataDir, 'emulator-state.json'),
        userApi: env.PLAID_EMULATOR_USER_API,
        log: (msg, meta) => logger.debug(meta ?? {}, msg),
      });
      emulatorUrl = emulator.url;
      stops.unshift({ name: 'Plaid emulator', stop: () => emulator.close() });
    }

    const target = { address: devServer?.address ?? env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE };
    const client = await connectClient(target, services.codec);
    stops.unshift({ name: 'Temporal client', stop: () => client.connection.close() });

    const { connection, namespace } = await connectWorker(target);
    const worker = await createServicesWorker(services, { connection, namespace });
    const running = worker.run();
    stops.unshift({
      name: 'worker',
      stop: async () => {
        // The SDK's runtime also reacts to SIGINT/SIGTERM; shut down only if it has not yet.
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await connection.close();
      },
    });

    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'linkflow_api_' });
    registerOutcomeGauges(metrics, services.store);
    const app = createApp({
      temporal: { client, namespace, taskQueue: env.TEMPORAL_TASK_QUEUE },
      plaid: services.plaid,
      sessions: services.store,
      config: {
        ...apiConfigFromEnv(env, {
          apiKey: services.apiKey,
          uiOrigins: env.LINKFLOW_UI_ORIGINS,
          codecToken: services.codecToken,
          // The one composition whose /demo may go key-less (loopback peer and Host only).
          keylessDemo: true,
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
    stops.unshift({ name: 'API', stop: () => server.close() });

    if (!env.PLAID_VERIFY_WEBHOOKS) logger.warn('PLAID_VERIFY_WEBHOOKS=false: webhooks are NOT verified');
    const banner = [
      '',
      `linkflow is running (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      `  API            ${server.url}`,
      `  API docs       ${server.url}/docs`,
      `  Demo page      ${server.url}/demo`,
      devServer?.uiUrl
        ? `  Temporal UI    ${devServer.uiUrl}/namespaces/${namespace}/workflows`
        : `  Temporal       ${env.TEMPORAL_ADDRESS}`,
      emulated
        ? `  Plaid emulator http://127.0.0.1:${env.PLAID_EMULATOR_PORT}`
        : `  Plaid          ${services.plaidBaseUrl}`,
      `  Data           ${services.dataDir}${env.DATABASE_URL ? ' (database: DATABASE_URL)' : ' (PGlite)'}`,
      `  API key        ${env.LINKFLOW_API_KEY ? '(from LINKFLOW_API_KEY)' : services.apiKey}`,
      '',
      '  Try it:        npm run demo        (in another terminal)',
      '  Stop:          Ctrl-C',
      '',
    ];
    return {
      apiUrl: server.url,
      apiKey: services.apiKey,
      namespace,
      ...(devServer?.uiUrl && { uiUrl: devServer.uiUrl }),
      ...(emulatorUrl && { emulatorUrl }),
      banner,
    };
  }

  return {
    start,
    stop() {
      stopped ??= (async () => {
        for (const { name, stop } of stops) {
          await stop().catch((err) => logger.error({ err }, `stopping the ${name} failed`));
        }
      })();
      return stopped;
    },
  };
}

/** Starts the embedded stack; stops whatever started if a part fails, then rethrows. */
export async function startStack(
  env: Env,
  opts: { logger: Logger },
): Promise<StackInfo & { stop(): Promise<void> }> {
  const stack = createStack(env, opts);
  try {
    return { ...(await stack.start()), stop: () => stack.stop() };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
