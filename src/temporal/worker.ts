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
import { LONGEST_EXCHANGE_ATTEMPT_MS } from '../activities/attempt';
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
  /** Overrides SHUTDOWN_GRACE_MS (tests). */
  shutdownGraceMs?: number;
  /**
   * Activities per second the Temporal server hands out on this task queue, to all workers
   * together (`maxTaskQueueActivitiesPerSecond`): the Plaid call budget of the client id.
   */
  maxTaskQueueActivitiesPerSecond?: number;
}

/**
 * On shutdown (SIGTERM, Ctrl-C) the worker stops polling and waits this long for activities in
 * flight before cancelling them: longer than an exchange attempt's worst case (DB waits, the
 * Plaid call, the ~2 min save of an access token held only in memory), so a save in progress
 * finishes. An exchange cancelled before its save releases its lease and records the call's
 * outcome as in doubt. The SDK default is 0: cancel at once.
 */
export const SHUTDOWN_GRACE_MS = LONGEST_EXCHANGE_ATTEMPT_MS + 10_000;
/**
 * After this the worker gives up on a graceful shutdown (GracefulShutdownPeriodExpiredError): a
 * process manager's stop timeout (compose `stop_grace_period`) must be above it.
 */
export const SHUTDOWN_FORCE_MS = SHUTDOWN_GRACE_MS + 15_000;
/**
 * Heartbeats reach the server at most every 5 s, whatever the heartbeat timeout (the SDK's
 * default throttle is 80% of it: 24 s of a 30 s timeout leaves 6 s of slack, one late flush on a
 * loaded machine and a live attempt is timed out and retried beside itself). With 5 s, five
 * heartbeats may be lost first, and a cancellation reaches the activity within ~5 s.
 */
export const MAX_HEARTBEAT_THROTTLE_MS = 5_000;

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
    shutdownGraceTime: opts.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
    shutdownForceTime: (opts.shutdownGraceMs ?? SHUTDOWN_GRACE_MS) + (SHUTDOWN_FORCE_MS - SHUTDOWN_GRACE_MS),
    maxHeartbeatThrottleInterval: MAX_HEARTBEAT_THROTTLE_MS,
    ...(opts.maxTaskQueueActivitiesPerSecond !== undefined && {
      maxTaskQueueActivitiesPerSecond: opts.maxTaskQueueActivitiesPerSecond,
    }),
  });
}
