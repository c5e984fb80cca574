/**
 * SIGTERM to the worker process (`npm run worker`'s dist/worker.mjs) while an exchange is saving
 * its access token: Plaid has answered, the token exists only in the activity's memory, and the
 * store is slow (the `items` table is locked by this test, so the INSERT waits). The worker must
 * not exit before the save is done: it stops polling, lets the activity finish, then exits 0.
 * The Item is stored, Plaid exchanged the token once, and a new worker completes the session.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/aesGcm';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import {
  createPostgresSchema,
  type LinkflowStack,
  spawnWorkerProcess,
  startLinkflowStack,
  untilStatus,
  type WorkerProcess,
  waitFor,
  workerEnv,
} from '../helpers/linkflowStack';

const databaseUrl = process.env.TEST_DATABASE_URL;

let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>>;
let dataDir: string;
let direct: Db;
let store: ItemStore;

beforeAll(async () => {
  if (!databaseUrl) return;
  pg = await createPostgresSchema(databaseUrl, 'linkflow_shutdown');
  dataDir = await mkdtemp(join(tmpdir(), 'linkflow-shutdown-'));
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    databaseUrl: pg.url,
    worker: false,
  });
  // The test's own connection: waits as long as it needs to hold the lock.
  direct = await openDatabase({
    databaseUrl: pg.url,
    migrate: false,
    waits: { statementMs: 300_000, queryMs: 300_000 },
  });
  store = createItemStore(direct, stack.keyring);
});

afterAll(async () => {
  await stack?.close();
  await direct?.close();
  await pg?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe.skipIf(!databaseUrl)('chaos: graceful shutdown', () => {
  it('SIGTERM during a save: the worker finishes the save before it exits, the Item is stored, the session completes', async () => {
    const env = workerEnv(stack, dataDir);
    const worker = await spawnWorkerProcess(env);
    const { linkToken } = await stack.createSession({});

    // Hold the items table: the exchange's INSERT waits for it (and retries past its own
    // statement_timeout) while its access token exists only in the worker's memory.
    let unlock: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      unlock = resolve;
    });
    let lockHeld: () => void = () => undefined;
    const locked = new Promise<void>((resolve) => {
      lockHeld = resolve;
    });
    const holding = direct.transaction(async (tx) => {
      // SHARE: INSERTs into items wait; the intent's foreign-key checks (ROW SHARE) do not.
      await tx.query('LOCK TABLE items IN SHARE MODE');
      lockHeld();
      await released;
    });
    await locked;

    try {
      await shutDownDuringSave(linkToken, worker, { unlock, holding });
    } finally {
      unlock();
      await holding.catch(() => undefined);
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    }
  });
});

async function shutDownDuringSave(
  linkToken: string,
  worker: WorkerProcess,
  lock: { unlock: () => void; holding: Promise<void> },
) {
  const { unlock, holding } = lock;
  const env = workerEnv(stack, dataDir);
  const link = await stack.completeLink(linkToken, { institutions: ['ins_109508'] });
  const [publicToken] = link.public_tokens;
  if (!publicToken) throw new Error('no public token');
  await waitFor(
    'the exchange to be saving (its INSERT waiting for the lock)',
    async () => {
      const [row] = await direct.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO items%'`,
      );
      return (row?.n ?? 0) > 0;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  expect((await stack.emulatorState()).exchanges[publicToken]).toBe(1);

  worker.child.kill('SIGTERM');
  await waitFor('the worker to begin its shutdown', () => worker.output().includes('SIGTERM, stopping'), {
    timeoutMs: 30_000,
    intervalMs: 50,
  });
  // Shutting down, yet still there: the save is in progress and nothing is stored yet.
  expect(worker.child.exitCode).toBeNull();
  expect(await store.findExchange(publicToken)).toMatchObject({ state: 'pending' });

  unlock();
  await holding;
  const exit = await worker.exited;
  expect(exit, worker.output()).toEqual({ code: 0, signal: null });
  const saved = await store.findExchange(publicToken);
  expect(saved).toMatchObject({ state: 'exchanged' });
  expect(await store.getAccessToken(saved?.itemId as string)).toMatch(/^access-/);

  // The activity's result reached Temporal: a new worker takes the session to its end.
  const next = await spawnWorkerProcess(env);
  try {
    const view = await untilStatus(stack, linkToken, (s) => s === 'completed' || s === 'failed');
    expect(view.status).toBe('completed');
    expect(view.items.map((i) => [i.item_id, i.status])).toEqual([[saved?.itemId, 'exchanged']]);
    expect((await stack.emulatorState()).exchanges[publicToken]).toBe(1);
  } finally {
    next.child.kill('SIGTERM');
    await next.exited;
  }
}

describe.skipIf(!databaseUrl)('chaos: graceful shutdown while Plaid is answering', () => {
  it('SIGTERM while the exchange request is in flight: the call is not cut off, the Item is exchanged (not left unknown)', async () => {
    const env = workerEnv(stack, dataDir);
    const worker = await spawnWorkerProcess(env);
    try {
      const { linkToken } = await stack.createSession({});
      // Plaid takes 3 s to answer this exchange (the work is done at once, the answer is late).
      await stack.emulator('/__emulator/faults', {
        path: '/item/public_token/exchange',
        mode: 'delay',
        delay_ms: 3_000,
      });
      const link = await stack.completeLink(linkToken, { institutions: ['ins_109509'] });
      const [publicToken] = link.public_tokens;
      if (!publicToken) throw new Error('no public token');
      await waitFor(
        'the exchange request to be in flight (its call mark written)',
        async () => {
          const [row] = await direct.query<{ call_owner: string | null }>(
            'SELECT call_owner FROM exchange_intents WHERE public_token_sha256 = $1',
            [sha256Hex(publicToken)],
          );
          return row?.call_owner ?? undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      worker.child.kill('SIGTERM');
      const exit = await worker.exited;
      expect(exit, worker.output()).toEqual({ code: 0, signal: null });
      // Had the shutdown cancelled the attempt, the request would have been aborted and the
      // exchange left in doubt (then unknown: Plaid had spent the token).
      expect(await store.findExchange(publicToken)).toMatchObject({ state: 'exchanged' });
      expect(worker.output()).not.toContain('EXCHANGE_ANSWER_LOST');
      expect((await store.outcomeUnknownCounts()).exchanges).toBe(0);
    } finally {
      if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    }
  });
});
