/**
 * Builds the API for a test: the real dev server's client, a fake Plaid, an in-memory repository,
 * a toy codec, a fresh metrics registry and a logger whose lines the test can read.
 */
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { createApp } from '../../../src/api/app';
import type { ApiConfig, ApiDeps, Clock } from '../../../src/api/deps';
import { createLogger } from '../../../src/observability/logger';
import { DEFAULT_TIMING } from '../../../src/workflows/types';
import { type TemporalTestContext, workflowBundle } from '../../helpers/temporal';
import type { FakePlaid } from './fakePlaid';
import { createMemoryRepository, type MemoryRepository } from './memoryRepository';

export const API_KEY = 'test-api-key-0123456789abcdef';
export const UI_ORIGIN = 'http://localhost:8233';
export const fixturePath = fileURLToPath(new URL('../fixtures/linkSessionWorkflow.ts', import.meta.url));

/** A reversible toy codec (XOR + marker), standing in for the encryption codec. */
export const toyCodec: PayloadCodec = {
  async encode(payloads: Payload[]) {
    return payloads.map((p) => ({
      metadata: {
        encoding: new TextEncoder().encode('binary/toy'),
        inner: p.metadata?.encoding ?? new Uint8Array(),
      },
      data: (p.data ?? new Uint8Array()).map((b) => b ^ 0x5a),
    }));
  },
  async decode(payloads: Payload[]) {
    return payloads.map((p) => {
      if (new TextDecoder().decode(p.metadata?.encoding ?? new Uint8Array()) !== 'binary/toy') {
        throw new Error('not a toy payload');
      }
      return {
        metadata: { encoding: p.metadata?.inner ?? new Uint8Array() },
        data: (p.data ?? new Uint8Array()).map((b) => b ^ 0x5a),
      };
    });
  },
};

export interface Harness {
  app: ReturnType<typeof createApp>;
  repo: MemoryRepository;
  registry: Registry;
  logs: string[];
  taskQueue: string;
  /** `app.request` with the API key. */
  authed(path: string, init?: RequestInit): Promise<Response>;
  json(path: string, body: unknown, init?: RequestInit): Promise<Response>;
}

export interface HarnessOptions {
  t: TemporalTestContext;
  plaid: FakePlaid;
  taskQueue: string;
  config?: Partial<ApiConfig>;
  clock?: Clock;
  client?: Client;
  webhookKeys?: ApiDeps['webhookKeys'];
  /** Share one repository between harnesses (e.g. one with Temporal down, one with it up). */
  repo?: MemoryRepository;
  /** Items API, secret reads, outbound events (absent: their routes are too). */
  handoff?: ApiDeps['handoff'];
}

export function createHarness(opts: HarnessOptions): Harness {
  const logs: string[] = [];
  const registry = new Registry();
  const repo = opts.repo ?? createMemoryRepository();
  const app = createApp({
    temporal: {
      client: opts.client ?? opts.t.client,
      namespace: opts.t.namespace,
      taskQueue: opts.taskQueue,
    },
    plaid: opts.plaid.plaid,
    sessions: repo,
    config: {
      apiKey: API_KEY,
      webhookUrl: 'http://127.0.0.1:3000/webhooks/plaid',
      verifyWebhooks: true,
      uiOrigins: [UI_ORIGIN, 'http://127.0.0.1:8233'],
      keylessDemo: false,
      timing: DEFAULT_TIMING,
      ...opts.config,
    },
    ...(opts.clock && { clock: opts.clock }),
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(line) } }),
    codec: toyCodec,
    metrics: registry,
    ...(opts.webhookKeys && { webhookKeys: opts.webhookKeys }),
    ...(opts.handoff && { handoff: opts.handoff }),
  });
  const withKey = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, ...(init.headers as Record<string, string>) },
  });
  return {
    app,
    repo,
    registry,
    logs,
    taskQueue: opts.taskQueue,
    authed: async (path, init) => app.request(path, withKey(init)),
    json: async (path, body, init = {}) =>
      app.request(
        path,
        withKey({
          method: 'POST',
          ...init,
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
        }),
      ),
  };
}

/** Runs `fn` while a worker for the fixture workflow polls `taskQueue`. */
export async function withFixtureWorker<T>(
  t: TemporalTestContext,
  taskQueue: string,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: t.nativeConnection,
    namespace: t.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(fixturePath),
  });
  return worker.runUntil(fn);
}
