/**
 * An offline Plaid Sandbox for Multi-Item Link: Plaid's routes answering like Plaid, signed LINK
 * webhooks with retries, and control routes that play the end user and inject faults.
 *
 *   const { url, emulator, close } = await startEmulator({ port: 0 });
 *   const plaid = createPlaidClient({ basePath: url, clientId: 'id', secret: 'secret' });
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { buildApp } from './app';
import { EmulatorContext, IN_MEMORY } from './context';
import { SigningKeys } from './keys';
import type { EmulatorOptions } from './options';
import { resolveOptions } from './options';
import { loadStateFile, StateFileWriter } from './persistence';
import { resetEmulator } from './routes/control';
import { type EmulatorStateView, emptyState, stateView } from './state';
import { DEFAULT_IDLE_HORIZON_MS, WebhookDispatcher } from './webhooks';

export { CATALOGUE } from './fixtures';
export type { EmulatorOptions } from './options';
export type { EmulatorStateView } from './state';

export interface Emulator {
  app: Hono;
  state(): EmulatorStateView;
  reset(): void;
  close(): Promise<void>;
  /** Resolves when no webhook delivery is in flight or scheduled sooner than maxWaitMs (default 10 s). */
  idle(maxWaitMs?: number): Promise<void>;
}

export async function createEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const resolved = resolveOptions(opts);
  const loaded = resolved.stateFile ? loadStateFile(resolved.stateFile) : null;
  const state = loaded ?? emptyState(resolved.seed);
  const keys = await SigningKeys.load(state.signing_keys);

  const writer = resolved.stateFile
    ? new StateFileWriter(
        resolved.stateFile,
        () => state,
        (err) => resolved.log('state file write failed', { error: String(err) }),
      )
    : null;
  const persistence = writer ?? IN_MEMORY;
  const dispatcher = new WebhookDispatcher({
    state,
    keys,
    fetch: resolved.fetch,
    retryDelaysMs: resolved.retryDelaysMs,
    timeoutMs: resolved.timeoutMs,
    log: resolved.log,
    changed: () => persistence.scheduleSave(),
  });
  const ctx = new EmulatorContext(resolved, state, keys, dispatcher, persistence);
  const reset = () => resetEmulator(ctx);
  const app = buildApp(ctx, reset);

  if (loaded) {
    resolved.log('emulator state loaded', {
      file: resolved.stateFile,
      items: Object.keys(state.items).length,
    });
    dispatcher.resumePending();
  }
  // Write at once, so the signing keys of this run survive even if nothing else happens.
  await writer?.flush();

  let closed: Promise<void> | null = null;
  return {
    app,
    state: () => stateView(state),
    reset,
    idle: (maxWaitMs = DEFAULT_IDLE_HORIZON_MS) => dispatcher.idle(maxWaitMs),
    close() {
      closed ??= (async () => {
        await dispatcher.stop();
        await writer?.close();
      })();
      return closed;
    },
  };
}

export interface StartedEmulator {
  url: string;
  port: number;
  emulator: Emulator;
  close(): Promise<void>;
}

/** Serves the emulator over HTTP; port 0 picks a free port. */
export async function startEmulator(
  opts: EmulatorOptions & { port?: number; host?: string } = {},
): Promise<StartedEmulator> {
  const emulator = await createEmulator(opts);
  const host = opts.host ?? '127.0.0.1';
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: emulator.app.fetch, port: opts.port ?? 4010, hostname: host }, () =>
        resolve(s as Server),
      );
      s.once('error', reject);
    });
  } catch (err) {
    await emulator.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closed: Promise<void> | null = null;
  return {
    url,
    port,
    emulator,
    close() {
      closed ??= (async () => {
        await emulator.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Keep-alive connections (the plaid client's, webhook receivers') would hold close open.
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}
