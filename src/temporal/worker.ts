/**
 * The Link session worker: the workflow bundle, the activities built from their dependencies, and
 * the payload codec, so public tokens and account metadata are encrypted in history.
 */
import { fileURLToPath } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import {
  bundleWorkflowCode,
  type NativeConnection,
  Worker,
  type WorkflowBundle,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { LinkSessionActivities } from '../workflows/activityTypes';
import { failureConverterPath, linkflowDataConverter, runningBuilt } from './dataConverter';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** File name of the workflow bundle scripts/build.ts writes next to dist/worker.mjs. */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

export interface LinkSessionWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: LinkSessionActivities;
  codec: PayloadCodec;
  /**
   * A prebuilt bundle (tests share one per file). When omitted: dist/'s bundle when running built
   * (webpack never loads into the production worker, ~110 MB less RSS), else bundled from source.
   */
  workflowBundle?: WorkflowBundleOption;
  /**
   * Workflows kept in the sticky cache (SDK default: by heap size, ~1,100 here). An evicted
   * session is replayed from its history (~90 events) on its next signal.
   */
  maxCachedWorkflows?: number;
  /**
   * Activities per second the Temporal server hands out on this task queue, to all workers
   * together (`maxTaskQueueActivitiesPerSecond`): the Plaid call budget of the client id.
   */
  maxTaskQueueActivitiesPerSecond?: number;
}

async function defaultWorkflowBundle(): Promise<WorkflowBundleOption> {
  if (runningBuilt) return { codePath: fileURLToPath(new URL(`./${WORKFLOW_BUNDLE_FILE}`, import.meta.url)) };
  return bundleLinkSessionWorkflows();
}

export function bundleLinkSessionWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath,
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
}

export async function createLinkSessionWorker(opts: LinkSessionWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: opts.workflowBundle ?? (await defaultWorkflowBundle()),
    activities: opts.activities,
    dataConverter: linkflowDataConverter(opts.codec),
    ...(opts.maxCachedWorkflows !== undefined && { maxCachedWorkflows: opts.maxCachedWorkflows }),
    ...(opts.maxTaskQueueActivitiesPerSecond !== undefined && {
      maxTaskQueueActivitiesPerSecond: opts.maxTaskQueueActivitiesPerSecond,
    }),
  });
}
