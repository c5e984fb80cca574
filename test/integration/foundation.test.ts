import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greetingWorkflow, nameSignal, stageQuery } from '../fixtures/workflows/greeting';
import {
  connectToTestServer,
  type TemporalTestContext,
  uniqueTaskQueue,
  workflowBundle,
} from '../helpers/temporal';

const workflowsPath = fileURLToPath(new URL('../fixtures/workflows/greeting.ts', import.meta.url));

describe('foundation: a real workflow on the real dev server', () => {
  let t: TemporalTestContext;
  beforeAll(async () => {
    t = await connectToTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('runs a workflow that waits for a signal, answers a query and calls an activity', async () => {
    const taskQueue = uniqueTaskQueue('foundation');
    const worker = await Worker.create({
      connection: t.nativeConnection,
      namespace: t.namespace,
      taskQueue,
      workflowBundle: await workflowBundle(workflowsPath),
      activities: { greet: async (name: string) => `hello, ${name}` },
    });
    const result = await worker.runUntil(async () => {
      const handle = await t.client.workflow.start(greetingWorkflow, { taskQueue, workflowId: taskQueue });
      expect(await handle.query(stageQuery)).toBe('waiting');
      await handle.signal(nameSignal, 'linkflow');
      return handle.result();
    });
    expect(result).toBe('hello, linkflow');
  });

  it('registered the Link session search attributes on the server', async () => {
    const { connection, namespace } = t;
    const response = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(response.customAttributes)).toEqual(
      expect.arrayContaining(['LinkSessionStatus', 'ClientUserId', 'PlaidUserId', 'LinkItemCount']),
    );
  });
});
