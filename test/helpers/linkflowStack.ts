/**
 * A whole linkflow deployment in one process, for the integration and chaos suites and for
 * recording replay histories: the Plaid emulator over HTTP; the real API (`createApp` + `serveApp`, Plaid webhook
 * verification on) as the emulator's webhook receiver; the item store (PostgreSQL when a URL is
 * given, PGlite in memory otherwise); the encryption codec under a chosen key; and, unless told
 * otherwise, an in-process worker (a test may run the worker as a child process instead).
 *
 * It imports nothing from vitest, so plain scripts (test/replay/recordHistories.ts) use it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

// A CommonJS module: its namespace export works under both vitest and plain Node (histories:record).
const { temporal } = proto;

import { NativeConnection, type Worker, type WorkflowBundle } from '@temporalio/worker';
import type { PlaidApi } from 'plaid';
import { Registry } from 'prom-client';
import { buildDist, DIST_DIR } from '../../scripts/build';
import { createActivities } from '../../src/activities';
import type { OutboundEventsConfig } from '../../src/activities/events';
import { createApp } from '../../src/api/app';
import { type RunningServer, serveApp } from '../../src/api/server';
import { createKeyring, generateKeyBase64, type Keyring } from '../../src/crypto';
import { type EmulatorStateView, type StartedEmulator, startEmulator } from '../../src/emulator';
import type { CompleteLinkResult, WebhookFaults } from '../../src/emulator/linkFlow';
import { createLogger } from '../../src/observability/logger';
import { registerOutcomeGauges } from '../../src/observability/metrics';
import { createPlaidClient } from '../../src/plaid/client';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import { PostgresDb } from '../../src/store/postgres';
import { createEncryptionCodec } from '../../src/temporal/codec';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';
import { type LinkSessionHandle, startLinkSession } from '../../src/temporal/startLinkSession';
import { webhookSignalSigner } from '../../src/temporal/webhookSignalMac';
import { createLinkSessionWorker } from '../../src/temporal/worker';
import type { LinkSessionActivities } from '../../src/workflows/activityTypes';
import { getSessionQuery, linkSessionWorkflowId } from '../../src/workflows/definitions';
import {
  DEFAULT_TIMING,
  type PaymentChoice,
  type SessionStatus,
  type SessionView,
  type TimingPolicy,
} from '../../src/workflows/types';
import { freePort } from './freePort';

export { freePort };

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Short timings: poll after 1 s of webhook silence, every 400 ms while polling. */
export const CHAOS_TIMING: TimingPolicy = {
  pollAfterMs: 1_000,
  pollEveryMs: 400,
  resultsWindowMs: DEFAULT_TIMING.resultsWindowMs,
  selectionTimeoutMs: 600_000,
  // A reopened Link whose webhooks are lost is found in seconds, not the production 20 minutes.
  tailPollEveryMs: 3_000,
};

/** The integration tests' timings: poll after 1.5 s of webhook silence, every 500 ms. */
export const TEST_TIMING: TimingPolicy = {
  pollAfterMs: 1_500,
  pollEveryMs: 500,
  resultsWindowMs: DEFAULT_TIMING.resultsWindowMs,
  selectionTimeoutMs: 60_000,
  tailPollEveryMs: 5_000,
};

export const STACK_API_KEY = 'chaos-api-key-0123456789abcdef';
/** The Plaid credentials of every client in the stack (the emulator scopes Items to a client id). */
export const STACK_PLAID_CLIENT_ID = 'linkflow-chaos';
export const STACK_PLAID_SECRET = 'chaos-secret';

export const TERMINAL: readonly SessionStatus[] = ['completed', 'exited', 'expired', 'failed'];

// ---------------------------------------------------------------- small utilities

/** mulberry32: a tiny seeded PRNG, so a failing run can be repeated from its printed seed. */
export class Rng {
  #state: number;
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.next() * values.length)] as T;
  }
  /** `n` distinct values, in random order. */
  sample<T>(values: readonly T[], n: number): T[] {
    const copy = [...values];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy.slice(0, n);
  }
}

/** The seed from LINKFLOW_CHAOS_SEED when given (to repeat a run), else a fresh one. */
export function chaosSeed(): number {
  const fromEnv = Number(process.env.LINKFLOW_CHAOS_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : randomBytes(4).readUInt32BE(0) || 1;
}

export function isSoak(): boolean {
  return process.env.LINKFLOW_SOAK === '1' || process.env.LINKFLOW_SOAK === 'true';
}

/**
 * Waits for `check` to return a value other than undefined/false, asking again every
 * `intervalMs`, at most until `timeoutMs`: a bounded wait on a condition, never a blind sleep.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 100;
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let round = 0; ; round++) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > until) {
      throw new Error(
        `timed out after ${timeoutMs} ms (${round + 1} checks) waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

// ---------------------------------------------------------------- PostgreSQL

/** A fresh schema on the throwaway PostgreSQL server; its URL selects it through search_path. */
export async function createPostgresSchema(
  baseUrl: string,
  prefix = 'linkflow_chaos',
): Promise<{ url: string; schema: string; dispose(): Promise<void> }> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new PostgresDb(baseUrl);
  await admin.query(`CREATE SCHEMA ${schema}`);
  const scoped = new URL(baseUrl);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: scoped.toString(),
    schema,
    async dispose() {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
      await admin.close();
    },
  };
}

/** The same database URL, reached through another host:port (a TCP proxy). */
export function viaPort(databaseUrl: string, port: number): string {
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

/**
 * A TCP proxy on loopback that can be cut: `cut()` destroys every open connection and resets new
 * ones at once (the client sees ECONNRESET, as when a database host goes away); `restore()` lets
 * connections through again.
 */
export interface TcpProxy {
  port: number;
  readonly isCut: boolean;
  stats: { accepted: number; refused: number; severed: number };
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let cut = false;
  const stats = { accepted: 0, refused: 0, severed: 0 };
  const reset = (socket: Socket) => {
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  };
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (cut) {
      stats.refused++;
      reset(client);
      return;
    }
    stats.accepted++;
    const upstream = new Socket();
    upstream.on('error', () => {});
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    upstream.connect(target.port, target.host);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get isCut() {
      return cut;
    },
    stats,
    cut() {
      cut = true;
      for (const pair of [...pairs]) {
        stats.severed++;
        pairs.delete(pair);
        for (const socket of pair) reset(socket);
      }
    },
    restore() {
      cut = false;
    },
    async close() {
      for (const pair of pairs) for (const socket of pair) socket.destroy();
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------- the emulator's view

/** What `GET /__emulator/state` and `POST /__emulator/link/complete` answer: the emulator's own types. */
export type EmulatorState = EmulatorStateView;
export type CompletedLink = CompleteLinkResult;

export type { WebhookFaults };

// ---------------------------------------------------------------- the stack

export interface LinkflowStackOptions {
  temporal: { address: string; namespace: string };
  /** base64 32-byte key of the codec and the store; random when omitted. */
  keyBase64?: string;
  /** PostgreSQL URL of the store (a schema of the throwaway server); PGlite in memory when omitted. */
  databaseUrl?: string;
  /** The workflow bundle for the in-process worker (bundled from source when omitted). */
  bundle?: WorkflowBundle;
  /** Start an in-process worker (default true). */
  worker?: boolean;
  taskQueue?: string;
  /** Timing of sessions created through the API (and the default for direct ones). */
  timing?: TimingPolicy;
  /** The emulator's webhook retry schedule. */
  webhookRetryDelaysMs?: number[];
  /** Seeds the emulator's ids; random when omitted (link tokens must differ across stacks). */
  emulatorSeed?: number;
  /** Wrap the activities' Plaid client (fault injection at Plaid's answer). */
  wrapPlaid?: (plaid: PlaidApi) => PlaidApi;
  /** Wrap the activities (counting attempts and failures). */
  wrapActivities?: (activities: LinkSessionActivities) => LinkSessionActivities;
  /** The API's bound on Temporal calls (the API's default, 5 s, when omitted). */
  temporalTimeoutMs?: number;
  /** LINKFLOW_SECRETS_API_KEY of the API (secret reads off when omitted). */
  secretsApiKey?: string;
  /** Outbound events (LINKFLOW_EVENTS_*), for the API and the worker; off when omitted. */
  events?: OutboundEventsConfig;
}

export interface CreatedSession {
  linkToken: string;
  handle: LinkSessionHandle;
}

export interface SessionRequest {
  /** 'api': POST /link/sessions (timing from the stack); 'direct': Plaid + startLinkSession. */
  via?: 'api' | 'direct';
  clientUserId?: string;
  payment?: PaymentChoice | null;
  /** direct only */
  timing?: Partial<TimingPolicy>;
  /** direct only: the link token expiration the workflow sees. */
  expiration?: string;
}

export interface LinkflowStack {
  temporal: { address: string; namespace: string };
  /** The store's PostgreSQL URL, when it is not PGlite. */
  databaseUrl: string | null;
  emulatorUrl: string;
  apiUrl: string;
  webhookUrl: string;
  keyBase64: string;
  keyring: Keyring;
  codec: PayloadCodec;
  db: Db;
  store: ItemStore;
  client: Client;
  taskQueue: string;
  timing: TimingPolicy;
  emulatorServer: StartedEmulator;
  /** The last fatal error of the in-process worker, if it stopped by itself. */
  workerError(): unknown;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  createSession(req?: SessionRequest): Promise<CreatedSession>;
  handle(linkToken: string): LinkSessionHandle;
  view(linkToken: string): Promise<SessionView>;
  emulator<T = unknown>(path: string, body?: unknown): Promise<T>;
  emulatorState(): Promise<EmulatorState>;
  completeLink(
    linkToken: string,
    opts?: { institutions?: string[]; status?: 'SUCCESS' | 'EXITED'; webhooks?: WebhookFaults },
  ): Promise<CompletedLink>;
  /** An authenticated API call; returns the status and the JSON body. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startLinkflowStack(opts: LinkflowStackOptions): Promise<LinkflowStack> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const keyBase64 = opts.keyBase64 ?? generateKeyBase64();
    const keyring = createKeyring(keyBase64);
    const codec = createEncryptionCodec(keyring);
    const timing = opts.timing ?? CHAOS_TIMING;
    const taskQueue = opts.taskQueue ?? `linkflow-${randomBytes(6).toString('hex')}`;

    const emulatorServer = await startEmulator({
      port: 0,
      // Distinct per stack: link tokens (and so workflow ids) must not repeat across test files
      // sharing one dev server.
      seed: opts.emulatorSeed ?? randomBytes(4).readUInt32BE(0),
      webhookRetryDelaysMs: opts.webhookRetryDelaysMs ?? [100, 250, 500, 1000, 2000],
      webhookTimeoutMs: 10_000,
    });
    cleanups.push(() => emulatorServer.close());
    const emulatorUrl = emulatorServer.url;

    const db = await openDatabase(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {});
    cleanups.push(() => db.close());
    const store = createItemStore(db, keyring);

    const connection = await Connection.connect({ address: opts.temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: opts.temporal.namespace,
      dataConverter: linkflowDataConverter(codec),
    });

    const plaid = createPlaidClient({
      basePath: emulatorUrl,
      clientId: STACK_PLAID_CLIENT_ID,
      secret: STACK_PLAID_SECRET,
    });

    const apiPort = await freePort();
    const webhookUrl = `http://127.0.0.1:${apiPort}/webhooks/plaid`;
    const metrics = new Registry();
    const app = createApp({
      temporal: { client, namespace: opts.temporal.namespace, taskQueue },
      plaid,
      sessions: store,
      config: {
        apiKey: STACK_API_KEY,
        webhookUrl,
        verifyWebhooks: true,
        uiOrigins: [],
        keylessDemo: false,
        timing,
        ...(opts.temporalTimeoutMs !== undefined && { temporalTimeoutMs: opts.temporalTimeoutMs }),
        ...(opts.secretsApiKey && { secretsApiKey: opts.secretsApiKey }),
      },
      handoff: { store, plaid, events: opts.events ? { retry: opts.events.retry } : null },
      logger: createLogger({ level: process.env.LINKFLOW_TEST_LOG ?? 'silent' }),
      codec,
      metrics,
      signWebhookSignal: webhookSignalSigner(keyring),
    });
    // As npm start and npm run api do: /metrics reads the outcome-unknown counts from the store.
    registerOutcomeGauges(metrics, store);
    const apiServer: RunningServer = await serveApp(app, { hostname: '127.0.0.1', port: apiPort });
    cleanups.push(() => apiServer.close());

    // ---- the in-process worker
    const activityPlaid = opts.wrapPlaid ? opts.wrapPlaid(plaid) : plaid;
    const baseActivities = createActivities({
      plaid: activityPlaid,
      store,
      ...(opts.events && { events: { config: opts.events, deliveries: store } }),
    });
    const activities = opts.wrapActivities ? opts.wrapActivities(baseActivities) : baseActivities;
    let running: { worker: Worker; done: Promise<void>; connection: NativeConnection } | null = null;
    let workerError: unknown;
    const startWorker = async () => {
      if (running) return;
      const nativeConnection = await NativeConnection.connect({ address: opts.temporal.address });
      const worker = await createLinkSessionWorker({
        connection: nativeConnection,
        namespace: opts.temporal.namespace,
        taskQueue,
        activities,
        codec,
        ...(opts.bundle && { workflowBundle: opts.bundle }),
      });
      const done = worker.run().catch((err) => {
        workerError = err;
      });
      running = { worker, done, connection: nativeConnection };
    };
    const stopWorker = async () => {
      const current = running;
      if (!current) return;
      running = null;
      if (current.worker.getState() === 'RUNNING') current.worker.shutdown();
      await current.done;
      await current.connection.close().catch(() => undefined);
    };
    cleanups.push(stopWorker);
    if (opts.worker !== false) await startWorker();

    const emulator = async <T>(path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${emulatorUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as T;
      if (!res.ok) throw new Error(`${path} -> ${res.status} ${JSON.stringify(json)}`);
      return json;
    };

    const api = async <T>(method: string, path: string, body?: unknown) => {
      const res = await fetch(`${apiServer.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${STACK_API_KEY}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as T };
    };

    const handle = (linkToken: string): LinkSessionHandle =>
      client.workflow.getHandle(linkSessionWorkflowId(linkToken));

    let users = 0;
    const stack: LinkflowStack = {
      temporal: opts.temporal,
      databaseUrl: opts.databaseUrl ?? null,
      emulatorUrl,
      apiUrl: apiServer.url,
      webhookUrl,
      keyBase64,
      keyring,
      codec,
      db,
      store,
      client,
      taskQueue,
      timing,
      emulatorServer,
      workerError: () => workerError,
      startWorker,
      stopWorker,
      handle,
      view: (linkToken) => handle(linkToken).query(getSessionQuery),
      emulator,
      emulatorState: () => emulator<EmulatorState>('/__emulator/state'),
      completeLink: (linkToken, o = {}) =>
        emulator<CompletedLink>('/__emulator/link/complete', { link_token: linkToken, ...o }),
      api,
      async createSession(req = {}) {
        const clientUserId = req.clientUserId ?? `user-${taskQueue}-${++users}`;
        const payment = req.payment === undefined ? null : req.payment;
        if ((req.via ?? 'api') === 'api') {
          const res = await api<{ link_token: string; error?: unknown }>('POST', '/link/sessions', {
            client_user_id: clientUserId,
            ...(payment && { payment }),
          });
          if (res.status !== 201)
            throw new Error(`POST /link/sessions -> ${res.status} ${JSON.stringify(res.body)}`);
          return { linkToken: res.body.link_token, handle: handle(res.body.link_token) };
        }
        const { data: user } = await plaid.userCreate({ client_user_id: clientUserId });
        const products = ['transactions'];
        const { data: link } = await plaid.linkTokenCreate({
          client_name: 'linkflow chaos',
          language: 'en',
          country_codes: ['US' as never],
          user: { client_user_id: clientUserId },
          user_id: user.user_id,
          products: products as never[],
          optional_products: (payment ? ['auth'] : []) as never[],
          enable_multi_item_link: true,
          webhook: webhookUrl,
        } as never);
        const h = await startLinkSession(
          client,
          {
            linkToken: link.link_token,
            expiration: req.expiration ?? link.expiration,
            userId: user.user_id,
            clientUserId,
            products,
            payment,
            timing: { ...timing, ...req.timing },
            createdAt: new Date().toISOString(),
            ...(opts.events && { emitEvents: true }),
          },
          { taskQueue },
        );
        return { linkToken: link.link_token, handle: h };
      },
      close: cleanup,
    };
    return stack;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// ---------------------------------------------------------------- the worker as a process

/** The environment `npm run worker` needs to serve this stack's task queue, store and Plaid. */
export function workerEnv(stack: LinkflowStack, dataDir: string): Record<string, string> {
  if (!stack.databaseUrl) throw new Error('a worker process needs the stack on PostgreSQL (databaseUrl)');
  return {
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporal.address,
    TEMPORAL_NAMESPACE: stack.temporal.namespace,
    TEMPORAL_TASK_QUEUE: stack.taskQueue,
    LINKFLOW_API_KEY: STACK_API_KEY,
    LINKFLOW_ENCRYPTION_KEY: stack.keyBase64,
    LINKFLOW_DATA_DIR: dataDir,
    PLAID_ENV: 'emulator',
    PLAID_BASE_URL: stack.emulatorUrl,
    PLAID_CLIENT_ID: STACK_PLAID_CLIENT_ID,
    PLAID_SECRET: STACK_PLAID_SECRET,
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it printed (for failure messages). */
  output(): string;
}

/**
 * The worker exactly as `npm run worker` runs it (dist/worker.mjs, built here when stale) with the
 * given environment; resolves once it printed its ready line (it is about to poll).
 */
export async function spawnWorkerProcess(
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number } = {},
): Promise<WorkerProcess> {
  await buildDist({ ifStale: true });
  const child = spawn(process.execPath, [join(DIST_DIR, 'worker.mjs')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MALLOC_ARENA_MAX: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(line);
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes('linkflow worker: task queue')) resolve();
    };
    child.stdout?.on('data', onData);
    void exited.then(({ code, signal }) =>
      reject(
        new Error(`worker exited before it was ready (code ${code}, signal ${signal}):\n${lines.join('\n')}`),
      ),
    );
  });
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`worker not ready within ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { child, exited, output: () => lines.join('\n') };
}

/** SIGKILLs a worker process still running (a failed assertion leaves the last one up). */
export async function killLeftoverWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}

/** Polls a session's view until it is terminal or `status` (bounded). */
export async function untilStatus(
  stack: Pick<LinkflowStack, 'view'>,
  linkToken: string,
  accept: (status: SessionStatus) => boolean,
  timeoutMs = 120_000,
  intervalMs = 150,
): Promise<SessionView> {
  return waitFor(
    `session ${linkToken} to reach the wanted status`,
    async () => {
      const v = await stack.view(linkToken);
      return accept(v.status) ? v : undefined;
    },
    { timeoutMs, intervalMs },
  );
}

/**
 * The view of a session once it reached a final status. The workflow itself stays open while its
 * link token can still produce Items (hours), so tests wait on the status, not on the run's end.
 */
export async function settledView(
  handle: {
    query: (q: typeof getSessionQuery) => Promise<SessionView>;
    fetchHistory?: () => Promise<{ events?: HistoryEventLike[] | null }>;
  },
  timeoutMs = 120_000,
): Promise<SessionView> {
  let last: SessionView | undefined;
  try {
    return await waitFor(
      'the session to reach a final status',
      async () => {
        last = await handle.query(getSessionQuery);
        return TERMINAL.includes(last.status) ? last : undefined;
      },
      { timeoutMs, intervalMs: 150 },
    );
  } catch (err) {
    if (last && !(err as Error).message.includes('last seen')) {
      (err as Error).message += ` (last seen: ${last.status}, ${last.items.length} Items)`;
    }
    // A session that never settles is most often a workflow task failing again and again
    // (nondeterminism): say so, with Temporal's own message, instead of only "timed out".
    const fetchHistory = handle.fetchHistory?.bind(handle);
    const failures = fetchHistory ? await workflowTaskFailures(fetchHistory).catch(() => []) : [];
    if (failures.length === 0) throw err;
    throw new Error(`${(err as Error).message}; its workflow task failed: ${failures.at(-1)}`);
  }
}

interface HistoryEventLike {
  workflowTaskFailedEventAttributes?: {
    cause?: unknown;
    failure?: { message?: string | null } | null;
  } | null;
}

/** The failures of the session's workflow tasks (worker-side errors such as nondeterminism), oldest first. */
export async function workflowTaskFailures(
  fetchHistory: () => Promise<{ events?: HistoryEventLike[] | null }>,
): Promise<string[]> {
  const history = await fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const failed = e.workflowTaskFailedEventAttributes;
    if (!failed) return [];
    const cause =
      typeof failed.cause === 'number'
        ? temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause]
        : String(failed.cause);
    return [`${cause}: ${failed.failure?.message ?? ''}`];
  });
}

/**
 * What a user does when no linked account can move money (rules 3): "Link a different account" —
 * the session's payment Link, completed with instant Auth at the first institution offering it —
 * and back in the chooser, an eligible account. The new Item may be a duplicate of one the user
 * already has (its original's accounts are then offered), or its exchange may fail under injected
 * faults (the user tries again, up to three times). Retried on 503 like any client. Returns the
 * account (null when every try failed) and each Link's result (their Items belong in the audit).
 */
export async function linkPaymentAccount(
  stack: LinkflowStack,
  linkToken: string,
  timeoutMs = 120_000,
): Promise<{ accountId: string | null; links: CompletedLink[] }> {
  const answered = async <T>(what: string, method: string, path: string, ok: number, body?: unknown) =>
    waitFor(
      what,
      async () => {
        const r = await stack.api<T>(method, path, body);
        if (r.status === 503) return undefined;
        if (r.status !== ok) throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
      },
      { timeoutMs, intervalMs: 250 },
    );
  const links: CompletedLink[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const created = await answered<{ link_token: string }>(
      'the payment Link',
      'POST',
      `/link/sessions/${linkToken}/payment-link`,
      201,
    );
    const link = await stack.completeLink(created.link_token);
    links.push(link);
    const publicToken = link.public_tokens[0];
    if (!publicToken) throw new Error('the payment Link produced no public token');
    await answered(
      'the payment Link’s public token accepted',
      'POST',
      `/link/sessions/${linkToken}/payment-link/public-token`,
      202,
      { public_token: publicToken },
    );
    const view = await waitFor(
      `the Item of payment Link ${attempt} of ${linkToken} settled`,
      async () => {
        const v = await stack.view(linkToken);
        const settled = v.items.filter((i) => i.origin === 'payment_link').length >= attempt;
        return settled && v.status !== 'exchanging' ? v : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    );
    const account = view.eligible_accounts[0]?.account_id;
    if (account) return { accountId: account, links };
  }
  return { accountId: null, links };
}
