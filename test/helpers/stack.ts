/**
 * A whole linkflow stack for integration tests, on the shared real dev server: the Plaid emulator
 * over HTTP, PGlite, the encryption codec, the real activities and a worker on a unique task queue.
 * LINK webhooks reach the workflow through a minimal relay (the API's verified route is tested in
 * test/api and end to end); a test may also deliver them through the real API instead.
 */
import { randomInt } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Client } from '@temporalio/client';
import type { Worker, WorkflowBundle } from '@temporalio/worker';
import { Hono } from 'hono';
import type { PlaidApi } from 'plaid';
import { Registry } from 'prom-client';
import { createActivities } from '../../src/activities';
import { createApp } from '../../src/api/app';
import type { ApiConfig } from '../../src/api/deps';
import { serveApp } from '../../src/api/server';
import { createKeyring, generateKeyBase64, type Keyring } from '../../src/crypto';
import { startEmulator } from '../../src/emulator';
import { createLogger } from '../../src/observability/logger';
import { createPlaidClient } from '../../src/plaid/client';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import { createEncryptionCodec } from '../../src/temporal/codec';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';
import { type LinkSessionHandle, startLinkSession } from '../../src/temporal/startLinkSession';
import { createLinkSessionWorker } from '../../src/temporal/worker';
import type { LinkSessionActivities } from '../../src/workflows/activityTypes';
import {
  itemAddResultSignal,
  linkSessionWorkflowId,
  sessionFinishedSignal,
} from '../../src/workflows/definitions';
import { DEFAULT_TIMING, type PaymentChoice, type TimingPolicy } from '../../src/workflows/types';
import { type TemporalTestContext, uniqueTaskQueue } from './temporal';

/** Short timings for tests; production defaults live in code. */
export const TEST_TIMING: TimingPolicy = {
  pollAfterMs: 1_500,
  pollEveryMs: 500,
  resultsWindowMs: DEFAULT_TIMING.resultsWindowMs,
  selectionTimeoutMs: 60_000,
};

export interface Stack {
  emulatorUrl: string;
  plaid: PlaidApi;
  db: Db;
  store: ItemStore;
  keyring: Keyring;
  client: Client;
  taskQueue: string;
  worker: Worker;
  webhookUrl: string;
  api?: StackApi;
  createSession(
    opts?: SessionOptions,
  ): Promise<{ linkToken: string; handle: LinkSessionHandle; userId: string }>;
  emulator(path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export interface SessionOptions {
  clientUserId?: string;
  products?: string[];
  payment?: PaymentChoice | null;
  timing?: Partial<TimingPolicy>;
  /** Override the link token's expiration seen by the workflow (the window when nothing finishes). */
  expiration?: string;
}

export interface StackOptions {
  /** Wrap the real activities (fault injection around the store, counting). */
  wrapActivities?: (activities: LinkSessionActivities) => LinkSessionActivities;
  /** Deliver webhooks to the real API (verified) instead of the relay, and serve the API. */
  viaApi?: boolean;
}

export interface StackApi {
  url: string;
  apiKey: string;
  /** JSON request to the API with the bearer key. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies of many shapes
  ): Promise<{ status: number; body: any }>;
}

export async function startStack(
  t: TemporalTestContext,
  bundle: WorkflowBundle,
  opts: StackOptions = {},
): Promise<Stack> {
  // A fresh seed per stack: stacks share one Temporal namespace, so link tokens must not repeat.
  const emu = await startEmulator({
    port: 0,
    seed: randomInt(2 ** 31),
    webhookRetryDelaysMs: [50, 100, 200, 400],
  });
  const db = await openDatabase({});
  const keyring = createKeyring(generateKeyBase64());
  const store = createItemStore(db, keyring);
  const codec = createEncryptionCodec(keyring);
  const plaid = createPlaidClient({ basePath: emu.url, clientId: 'linkflow-test', secret: 'test-secret' });
  const client = new Client({
    connection: t.connection,
    namespace: t.namespace,
    dataConverter: linkflowDataConverter(codec),
  });
  const taskQueue = uniqueTaskQueue('link');
  const activities = createActivities({ plaid, store });
  const worker = await createLinkSessionWorker({
    connection: t.nativeConnection,
    namespace: t.namespace,
    taskQueue,
    activities: opts.wrapActivities ? opts.wrapActivities(activities) : activities,
    codec,
    workflowBundle: bundle,
  });
  const running = worker.run();

  let webhookUrl: string;
  let api: StackApi | undefined;
  let closeHttp: () => Promise<void>;
  if (opts.viaApi) {
    const apiKey = 'test-api-key-0123456789abcdef';
    const config: ApiConfig = {
      apiKey,
      webhookUrl: 'http://127.0.0.1:0/webhooks/plaid', // set below, once the port is known
      verifyWebhooks: true,
      uiOrigins: [],
      allowUiOriginWithoutKey: false,
      timing: TEST_TIMING,
    };
    const app = createApp({
      temporal: { client, namespace: t.namespace, taskQueue },
      plaid,
      sessions: store,
      config,
      logger: createLogger({ level: 'warn' }),
      codec,
      metrics: new Registry(),
    });
    const served = await serveApp(app, { hostname: '127.0.0.1', port: 0 });
    webhookUrl = `${served.url}/webhooks/plaid`;
    config.webhookUrl = webhookUrl; // what the API puts into /link/token/create
    api = {
      url: served.url,
      apiKey,
      async call(method, path, body, headers = {}) {
        const res = await fetch(`${served.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : null };
      },
    };
    closeHttp = () => served.close();
  } else {
    // Minimal relay: LINK webhooks become signals (no verification; the API's route does that).
    const relay = new Hono().post('/webhooks/plaid', async (c) => {
      const body = (await c.req.json()) as Record<string, unknown>;
      const handle = client.workflow.getHandle(linkSessionWorkflowId(String(body.link_token)));
      const received_at = new Date().toISOString();
      try {
        if (body.webhook_code === 'ITEM_ADD_RESULT') {
          await handle.signal(itemAddResultSignal, {
            public_token: String(body.public_token),
            link_session_id: (body.link_session_id as string) ?? null,
            received_at,
          });
        } else if (body.webhook_code === 'SESSION_FINISHED') {
          await handle.signal(sessionFinishedSignal, {
            status: String(body.status).toUpperCase() === 'EXITED' ? 'EXITED' : 'SUCCESS',
            link_session_id: (body.link_session_id as string) ?? null,
            public_tokens: (body.public_tokens as string[]) ?? [],
            received_at,
          });
        }
      } catch {
        // A finished session: acknowledged, like the API does.
      }
      return c.json({ ok: true });
    });
    const relayServer = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: relay.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const address = relayServer.address();
    webhookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/webhooks/plaid`;
    closeHttp = () => new Promise((resolve) => relayServer.close(() => resolve()));
  }

  let users = 0;
  const stack: Stack = {
    emulatorUrl: emu.url,
    plaid,
    db,
    store,
    keyring,
    client,
    taskQueue,
    worker,
    webhookUrl,
    ...(api && { api }),
    async createSession(s = {}) {
      const clientUserId = s.clientUserId ?? `user-${taskQueue}-${++users}`;
      const { data: user } = await plaid.userCreate({ client_user_id: clientUserId });
      const payment = s.payment === undefined ? ({ product: 'auth' } as const) : s.payment;
      const products = s.products ?? ['transactions'];
      const { data: link } = await plaid.linkTokenCreate({
        client_name: 'linkflow tests',
        language: 'en',
        country_codes: ['US' as never],
        user: { client_user_id: clientUserId },
        user_id: user.user_id,
        products: products as never[],
        optional_products: (payment ? ['auth'] : []) as never[],
        enable_multi_item_link: true,
        webhook: webhookUrl,
      } as never);
      const handle = await startLinkSession(
        client,
        {
          linkToken: link.link_token,
          expiration: s.expiration ?? link.expiration,
          userId: user.user_id,
          clientUserId,
          products,
          payment,
          timing: { ...TEST_TIMING, ...s.timing },
          createdAt: new Date().toISOString(),
        },
        { taskQueue },
      );
      return { linkToken: link.link_token, handle, userId: user.user_id };
    },
    async emulator(path, body) {
      const res = await fetch(`${emu.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const json = await res.json();
      if (!res.ok) throw new Error(`${path} -> ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
    async close() {
      worker.shutdown();
      await running;
      await closeHttp();
      await emu.close();
      await db.close();
    },
  };
  return stack;
}
