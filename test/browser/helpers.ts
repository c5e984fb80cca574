/**
 * Browser-test plumbing: Debian's Chromium driven by playwright-core, and a whole linkflow stack
 * started in-process on free ports and configured like the embedded default (API on loopback,
 * UI origins allowed on the codec routes without a key, the demo page on the emulator).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Hono } from 'hono';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { inject, vi } from 'vitest';
import { createActivities } from '../../src/activities';
import { createApp } from '../../src/api/app';
import type { ApiConfig } from '../../src/api/deps';
import { type RunningServer, serveApp } from '../../src/api/server';
import type { AppEnv } from '../../src/api/types';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { type StartedEmulator, startEmulator } from '../../src/emulator';
import { createLogger } from '../../src/observability/logger';
import { createPlaidClient } from '../../src/plaid/client';
import { createItemStore, type Db, openDatabase } from '../../src/store';
import { createEncryptionCodec } from '../../src/temporal/codec';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';
import { type DevServer, startDevServer } from '../../src/temporal/devServer';
import { webhookSignalSigner } from '../../src/temporal/webhookSignalMac';
import { createLinkSessionWorker } from '../../src/temporal/worker';
import type { SessionStatus, SessionView, TimingPolicy } from '../../src/workflows/types';
import { freePort } from '../helpers/freePort';
import { linkSessionBundle, uniqueTaskQueue } from '../helpers/temporal';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/**
 * Chromium at /usr/bin/chromium; installed with apt-get when missing and this process is root
 * with apt-get available (the CI image); otherwise a clear failure — never a skip.
 */
export async function ensureChromium(): Promise<string> {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const root = process.getuid?.() === 0;
  const apt = existsSync('/usr/bin/apt-get');
  if (root && apt) {
    const code = await run('sh', [
      '-c',
      'apt-get update && apt-get install -y --no-install-recommends chromium',
    ]);
    if (code !== 0) throw new Error(`apt-get install chromium failed (exit ${code})`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}; the browser tests need it: run \`apt-get install -y chromium\` (as root) and rerun.`,
    );
  }
  return CHROMIUM;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh Chromium profile per launch (a persistent context is how Playwright takes --user-data-dir). */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = await ensureChromium();
  const profile = await mkdtemp(join(tmpdir(), 'linkflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1360, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface BrowserStack {
  apiUrl: string;
  apiKey: string;
  /** The codec token the UI's endpoint carries (`/codec/ui/<token>`). */
  codecToken: string;
  emulatorUrl: string;
  /** The Temporal UI, when the stack runs its own dev server. */
  uiUrl?: string;
  namespace: string;
  client: Client;
  /** Another API app on the same stack with config overrides (for `app.request` checks). */
  appWith(config: Partial<ApiConfig>): Hono<AppEnv>;
  /** Calls the API's session routes with the key. */
  api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  emulator<T>(path: string, body?: unknown): Promise<T>;
  waitForStatus(sessionId: string, status: SessionStatus, timeoutMs?: number): Promise<SessionView>;
  close(): Promise<void>;
}

export interface BrowserStackOptions {
  /**
   * `own-with-ui`: a dev server of this file's own with the Temporal UI, whose codec endpoint is
   * this stack's API; `shared`: the test run's shared dev server (no UI).
   */
  temporal: 'own-with-ui' | 'shared';
  /** Session timing overrides (defaults: polling after 30 s of webhook silence, every second). */
  timing?: Partial<TimingPolicy>;
}

async function json<T>(res: Response, what: string): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as T;
  if (!res.ok) throw new Error(`${what} → ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export async function startBrowserStack(opts: BrowserStackOptions): Promise<BrowserStack> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const fn of closers.splice(0).reverse())
      await fn().catch((err) => console.warn('close failed', err));
  };
  try {
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const codecToken = `lfc_${generateKeyBase64().replace(/[^A-Za-z0-9]/g, '')}`;

    let devServer: DevServer | undefined;
    let address: string;
    let namespace: string;
    let uiOrigins: string[] = [];
    if (opts.temporal === 'own-with-ui') {
      const uiPort = await freePort();
      // As npm start does it: the UI's codec endpoint carries the codec token.
      devServer = await startDevServer({
        ip: '127.0.0.1',
        uiPort,
        uiCodecEndpoint: `${apiUrl}/codec/ui/${codecToken}`,
      });
      const server = devServer;
      closers.push(() => server.stop());
      address = devServer.address;
      namespace = devServer.namespace;
      // The UI calls the codec from whichever name the browser used for it.
      uiOrigins = [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`];
    } else {
      address = inject('temporalAddress');
      namespace = inject('temporalNamespace');
    }

    const emu: StartedEmulator = await startEmulator({ port: 0, webhookRetryDelaysMs: [50, 100, 200, 400] });
    closers.push(() => emu.close());
    const db: Db = await openDatabase({});
    closers.push(() => db.close());
    const keyring = createKeyring(generateKeyBase64());
    const store = createItemStore(db, keyring);
    const codec = createEncryptionCodec(keyring);
    const plaid = createPlaidClient({
      basePath: emu.url,
      clientId: 'linkflow-browser',
      secret: 'browser-secret',
    });

    const connection = await Connection.connect({ address });
    closers.push(() => connection.close());
    const client = new Client({ connection, namespace, dataConverter: linkflowDataConverter(codec) });

    const taskQueue = uniqueTaskQueue('browser');
    const nativeConnection = await NativeConnection.connect({ address });
    closers.push(() => nativeConnection.close());
    const worker = await createLinkSessionWorker({
      connection: nativeConnection,
      namespace,
      taskQueue,
      activities: createActivities({ plaid, store }),
      codec,
      workflowBundle: await linkSessionBundle(),
    });
    const running = worker.run();
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });

    const apiKey = `lf_test_${generateKeyBase64().replace(/[^A-Za-z0-9]/g, '')}`;
    const config: ApiConfig = {
      apiKey,
      webhookUrl: `${apiUrl}/webhooks/plaid`,
      verifyWebhooks: true,
      uiOrigins,
      // Like npm start's composition: /demo key-less for loopback peers.
      keylessDemo: true,
      codecToken,
      timing: {
        pollAfterMs: 30_000,
        pollEveryMs: 1_000,
        resultsWindowMs: 6 * 3_600_000,
        selectionTimeoutMs: 10 * 60_000,
        ...opts.timing,
      },
      demo: { plaidEnv: 'emulator', emulatorUrl: emu.url },
    };
    const appWith = (overrides: Partial<ApiConfig>) =>
      createApp({
        temporal: { client, namespace, taskQueue },
        plaid,
        sessions: store,
        config: { ...config, ...overrides },
        logger: createLogger({ name: 'browser-test', level: 'warn' }),
        codec,
        metrics: new Registry(),
        signWebhookSignal: webhookSignalSigner(keyring),
      });
    const app = appWith({});
    const server: RunningServer = await serveApp(app, { hostname: '127.0.0.1', port: apiPort });
    closers.push(() => server.close());

    const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown) =>
      json<T>(
        await fetch(`${apiUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${apiKey}`,
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        }),
        `${method} ${path}`,
      );
    const stack: BrowserStack = {
      apiUrl,
      apiKey,
      codecToken,
      emulatorUrl: emu.url,
      ...(devServer?.uiUrl && { uiUrl: devServer.uiUrl }),
      namespace,
      client,
      appWith,
      api,
      async emulator<T>(path: string, body?: unknown) {
        return json<T>(
          await fetch(`${emu.url}${path}`, {
            method: body === undefined ? 'GET' : 'POST',
            headers: { 'content-type': 'application/json' },
            ...(body !== undefined && { body: JSON.stringify(body) }),
          }),
          `emulator ${path}`,
        );
      },
      waitForStatus(sessionId, status, timeoutMs = 30_000) {
        return vi.waitFor(
          async () => {
            const view = await api<SessionView>('GET', `/link/sessions/${encodeURIComponent(sessionId)}`);
            if (view.status !== status)
              throw new Error(`session ${sessionId} is ${view.status}, wanted ${status}`);
            return view;
          },
          { timeout: timeoutMs, interval: 100 },
        );
      },
      close,
    };
    return stack;
  } catch (err) {
    await close();
    throw err;
  }
}
