/**
 * The embedded linkflow stack, composed in this process the way `src/main/start.ts` composes it:
 * a real Temporal dev server (`startDevServer`, free port, no UI), the Plaid emulator on a free
 * port, `openServices` (PGlite in a temp data dir, keyring, codec, Plaid client), the real worker
 * (`createLinkSessionWorker`) and the real API (`createApp` + `serveApp`) over HTTP.
 *
 * The emulator's webhook deliveries go through a tap (`WebhookTap`): it forwards them to the API
 * and remembers each signed request (exact body bytes and `Plaid-Verification`), so the ingestion
 * benchmark can replay real, emulator-signed webhooks; it can also hold back a webhook code.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createActivities } from '../src/activities';
import { createApp } from '../src/api/app';
import { apiConfigFromEnv } from '../src/api/config';
import { type RunningServer, serveApp } from '../src/api/server';
import { type Env, loadEnv } from '../src/config/env';
import { generateKeyBase64 } from '../src/crypto';
import { type StartedEmulator, startEmulator } from '../src/emulator';
import { openServices, type Services } from '../src/main/services';
import { createLogger } from '../src/observability/logger';
import { connectClient, connectWorker } from '../src/temporal/connection';
import { type DevServer, startDevServer } from '../src/temporal/devServer';
import { webhookSignalSigner } from '../src/temporal/webhookSignalMac';
import { createLinkSessionWorker } from '../src/temporal/worker';
import { freePort } from '../test/helpers/freePort';

export interface CapturedWebhook {
  code: string;
  linkToken: string;
  publicToken: string | null;
  /** Exactly the bytes the emulator signed and sent. */
  body: string;
  signature: string;
  /** Wall clock (ms) when the emulator sent it, and when the API answered. */
  sentAt: number;
  answeredAt: number | null;
  status: number | null;
  held: boolean;
}

export class WebhookTap {
  readonly captured: CapturedWebhook[] = [];
  /** Webhook codes answered 200 here without reaching the API (still captured). */
  readonly hold = new Set<string>();

  readonly fetch: typeof fetch = async (input, init) => {
    const body = typeof init?.body === 'string' ? init.body : '';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      // not a webhook we understand: forward untouched
    }
    const record: CapturedWebhook = {
      code: String(parsed.webhook_code ?? ''),
      linkToken: String(parsed.link_token ?? ''),
      publicToken: typeof parsed.public_token === 'string' ? parsed.public_token : null,
      body,
      signature: headers['Plaid-Verification'] ?? '',
      sentAt: Date.now(),
      answeredAt: null,
      status: null,
      held: this.hold.has(String(parsed.webhook_code)),
    };
    this.captured.push(record);
    if (record.held) {
      record.answeredAt = Date.now();
      record.status = 200;
      return new Response('{"held":true}', { status: 200, headers: { 'content-type': 'application/json' } });
    }
    const res = await globalThis.fetch(input, init);
    record.answeredAt = Date.now();
    record.status = res.status;
    return res;
  };

  clear(): void {
    this.captured.length = 0;
  }
}

export interface BenchStack {
  tmpDir: string;
  env: Env;
  services: Services;
  devServer: DevServer;
  emulator: StartedEmulator;
  tap: WebhookTap;
  client: Client;
  namespace: string;
  worker: Worker;
  api: RunningServer;
  apiKey: string;
  encryptionKey: string;
  taskQueue: string;
  close(): Promise<void>;
}

let runtimeInstalled = false;

/** Keeps the SDK's lifecycle chatter off the terminal; warnings still show. */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('WARN') });
  runtimeInstalled = true;
}

export interface BenchStackOptions {
  /** The API's log level (lines go to /dev/null, their cost stays). */
  logLevel: string;
  /** false only to attribute cost (PLAID_VERIFY_WEBHOOKS=false); never for the headline figures. */
  verifyWebhooks?: boolean;
}

export async function startBenchStack(opts: BenchStackOptions): Promise<BenchStack> {
  quietTemporalRuntime();
  const stops: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const tmpDir = await mkdtemp(join(tmpdir(), 'linkflow-bench-'));
    stops.push(() => rm(tmpDir, { recursive: true, force: true }));

    const devServer = await startDevServer({ ip: '127.0.0.1' });
    stops.push(() => devServer.stop());

    const tap = new WebhookTap();
    const emulator = await startEmulator({
      port: 0,
      seed: 20_240_901,
      webhookRetryDelaysMs: [100, 200, 400, 800],
      fetch: tap.fetch,
    });
    stops.push(() => emulator.close());

    const apiPort = await freePort();
    const apiKey = randomBytes(24).toString('hex');
    const encryptionKey = generateKeyBase64();
    const taskQueue = `bench-${randomUUID()}`;
    // Only what the bench sets: nothing from the caller's environment leaks in (DATABASE_URL...).
    const env = loadEnv({
      HOST: '127.0.0.1',
      PORT: String(apiPort),
      LINKFLOW_DATA_DIR: join(tmpDir, 'data'),
      PLAID_BASE_URL: emulator.url,
      PLAID_EMULATOR_PORT: String(emulator.port),
      LINKFLOW_API_KEY: apiKey,
      LINKFLOW_ENCRYPTION_KEY: encryptionKey,
      TEMPORAL_TASK_QUEUE: taskQueue,
      PLAID_VERIFY_WEBHOOKS: opts.verifyWebhooks === false ? 'false' : 'true',
      // The bench opens 1,000 sessions a minute with one key: no creation limit here.
      LINKFLOW_SESSION_RATE_LIMIT: 'off',
    });

    const services = await openServices(env, { allowDevSecrets: false });
    stops.push(() => services.close());

    const target = { address: devServer.address, namespace: env.TEMPORAL_NAMESPACE };
    const client = await connectClient(target, services.codec);
    stops.push(() => client.connection.close());

    const { connection, namespace } = await connectWorker(target);
    const worker = await createLinkSessionWorker({
      connection,
      namespace,
      taskQueue,
      activities: createActivities({ plaid: services.plaid, store: services.store }),
      codec: services.codec,
    });
    const running = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    });

    // Real log lines at the real level, written where they cost what stdout costs but clutter nothing.
    const logger = createLogger({
      name: 'linkflow',
      level: opts.logLevel,
      destination: pino.destination({ dest: '/dev/null', sync: true }),
    });
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'linkflow_api_' });
    const app = createApp({
      temporal: { client, namespace, taskQueue },
      plaid: services.plaid,
      sessions: services.store,
      config: apiConfigFromEnv(env, { apiKey }),
      logger,
      codec: services.codec,
      metrics,
      signWebhookSignal: webhookSignalSigner(services.keyring),
    });
    const api = await serveApp(app, { hostname: env.HOST, port: env.PORT });
    stops.push(() => api.close());

    return {
      tmpDir,
      env,
      services,
      devServer,
      emulator,
      tap,
      client,
      namespace,
      worker,
      api,
      apiKey,
      encryptionKey,
      taskQueue,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** JSON over HTTP with the API key; throws on non-2xx with the body. */
export async function apiCall<T>(
  stack: BenchStack,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${stack.api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.apiKey}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export async function emulatorCall<T>(stack: BenchStack, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${stack.emulator.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} -> ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export interface CreatedSession {
  session_id: string;
  link_token: string;
  expiration: string;
  user_id: string;
}

/** `POST /link/sessions` the way an integrator calls it: products, and Auth for the payment step. */
export function createSession(stack: BenchStack, clientUserId: string): Promise<CreatedSession> {
  return apiCall<CreatedSession>(stack, 'POST', '/link/sessions', {
    client_user_id: clientUserId,
    products: ['transactions'],
    payment: { product: 'auth' },
  });
}
