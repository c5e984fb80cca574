/**
 * A query asked while a session is idle goes straight to the task queue and waits there for a
 * worker. When the worker died and the session's timer fires before a new worker takes the query,
 * the SDK (1.24) answers it by applying the events since the last workflow task, the fired timer
 * included, at that task's time; the workflow task that follows sends the commands decided there.
 * A scheduler that compared `Date.now()` with its due times decided "not yet" (a new timer) there
 * and "now" (the poll) on every later replay: a nondeterminism error at the next worker restart,
 * and a session stuck for good. Seen in test/chaos/workerKilled.test.ts; reproduced here on
 * purpose, with a real worker process. The fix: src/workflows/historyClock.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import proto from '@temporalio/proto';

// A CommonJS module: its namespace export works under both vitest and plain Node (histories:record).
const { temporal } = proto;

import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';
import type { LinkSessionHandle } from '../../src/temporal/startLinkSession';
import { getSessionQuery } from '../../src/workflows/definitions';
import {
  createPostgresSchema,
  killLeftoverWorker,
  type LinkflowStack,
  spawnWorkerProcess,
  startLinkflowStack,
  type WorkerProcess,
  waitFor,
  workerEnv,
  workflowTaskFailures,
} from '../helpers/linkflowStack';
import { linkSessionBundle } from '../helpers/temporal';

const databaseUrl = process.env.TEST_DATABASE_URL;

let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>>;
let dataDir: string;

let worker: WorkerProcess | undefined;

beforeAll(async () => {
  if (!databaseUrl) return;
  pg = await createPostgresSchema(databaseUrl);
  dataDir = await mkdtemp(join(tmpdir(), 'linkflow-query-'));
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    databaseUrl: pg.url,
    worker: false,
  });
});

afterAll(async () => {
  await killLeftoverWorker(worker);
  await stack?.close();
  await pg?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const { EventType } = temporal.api.enums.v1;
const eventTypes = async (handle: LinkSessionHandle) =>
  ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);

describe.skipIf(!databaseUrl)('chaos: a query reaches a new worker before the workflow task does', () => {
  it('the session goes on from the fired timer and its history replays', async () => {
    const env = workerEnv(stack, dataDir);
    worker = await spawnWorkerProcess(env);
    // No Link yet: the session's only timer is the start of polling, 3 s after creation.
    const { handle } = await stack.createSession({ via: 'direct', timing: { pollAfterMs: 3_000 } });
    const { EVENT_TYPE_TIMER_STARTED: TIMER_STARTED, EVENT_TYPE_TIMER_FIRED: TIMER_FIRED } = EventType;
    await waitFor('the session to wait on its polling timer', async () => {
      const types = await eventTypes(handle);
      return types.includes(TIMER_STARTED) && !types.includes(TIMER_FIRED);
    });
    worker.child.kill('SIGKILL');
    await worker.exited;
    // Asked while the session is idle, the query goes straight to the task queue and waits there
    // for a worker; the timer fires meanwhile.
    // A deadline well past a slow worker start: the query must wait for the new worker, not fail.
    const query = stack.client.connection.withDeadline(Date.now() + 60_000, () =>
      handle.query(getSessionQuery),
    );
    await waitFor('the polling timer to fire', async () => (await eventTypes(handle)).includes(TIMER_FIRED), {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    worker = await spawnWorkerProcess(env);
    const seen = await query;
    expect(seen.status).toBe('waiting_for_user');

    // The fired timer meant "poll now": the session polls /link/token/get.
    await waitFor(
      'the poll the fired timer was set for',
      async () => (await eventTypes(handle)).includes(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
      { timeoutMs: 60_000 },
    );
    worker.child.kill('SIGTERM');
    await worker.exited;

    expect(await workflowTaskFailures(() => handle.fetchHistory())).toEqual([]);
    // What a worker started later does with this history: replay it to the end.
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory(
      {
        workflowBundle: await linkSessionBundle(),
        dataConverter: linkflowDataConverter(stack.codec),
        replayName: 'query-after-worker-death',
      },
      history,
      handle.workflowId,
    );
  }, 180_000);
});
