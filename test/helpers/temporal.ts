/**
 * Test plumbing for the shared dev server: connections, one workflow bundle per test file, a
 * unique task queue per test.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { inject } from 'vitest';
import { failureConverterPath } from '../../src/temporal/dataConverter';
import { workflowsPath as linkSessionWorkflowsPath } from '../../src/temporal/worker';

export interface TemporalTestContext {
  /** The shared dev server's frontend address, for stacks that open their own connections. */
  address: string;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  namespace: string;
  close(): Promise<void>;
}

export async function connectToTestServer(): Promise<TemporalTestContext> {
  const address = inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace });
  return {
    address,
    client,
    connection,
    nativeConnection,
    namespace,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** Bundles a workflows module once per test file (bundling costs seconds). */
export function workflowBundle(
  workflowsPath: string,
  opts: { failureConverterPath?: string } = {},
): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(workflowsPath);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath, ...opts, logger: quietBundlerLogger });
    bundles.set(workflowsPath, bundle);
  }
  return bundle;
}

/** The Link session workflows, bundled as the worker bundles them (same failure converter). */
export function linkSessionBundle(): Promise<WorkflowBundleWithSourceMap> {
  return workflowBundle(linkSessionWorkflowsPath, { failureConverterPath });
}

const noop = () => {};
const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: (message: string, meta?: unknown) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: unknown) => console.error(message, meta ?? ''),
  log: noop,
};

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}
