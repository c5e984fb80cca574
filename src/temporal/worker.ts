/**
 * The Link session worker: the workflow bundle, the activities built from their dependencies, and
 * the payload codec, so public tokens and account metadata are encrypted in history.
 */
import { fileURLToPath } from 'node:url';
import type { PayloadCodec } from '@temporalio/common';
import { bundleWorkflowCode, type NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { LinkSessionActivities } from '../workflows/activityTypes';
import { failureConverterPath, linkflowDataConverter } from './dataConverter';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface LinkSessionWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: LinkSessionActivities;
  codec: PayloadCodec;
  /** A prebuilt bundle (tests share one per file); bundled from source when omitted. */
  workflowBundle?: WorkflowBundle;
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
    workflowBundle: opts.workflowBundle ?? (await bundleLinkSessionWorkflows()),
    activities: opts.activities,
    dataConverter: linkflowDataConverter(opts.codec),
  });
}
