/**
 * The embedded Temporal dev server (the CLI's `server start-dev`), shared by tests, `npm start`
 * and scripts. It runs a real server (SQLite, optional UI), never a fake.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { linkSessionSearchAttributes } from '../workflows/searchAttributes';
import { ensureTemporalCli, type ResolvedCli } from './cli';

export interface DevServerOptions {
  /** gRPC port; a free one when omitted. */
  port?: number;
  ip?: string;
  /** SQLite file; in-memory when omitted. */
  dbFilename?: string;
  /** Serve the Temporal UI on this port. */
  uiPort?: number;
  /** Codec server the UI calls to decode payloads. */
  uiCodecEndpoint?: string;
  namespace?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  cli?: ResolvedCli;
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const cli = await ensureTemporalCli(opts.log ? { log: opts.log } : {});
  // Eager activity execution: a workflow task that schedules activities on its own task queue
  // gets them back in the same round trip, instead of through matching and a poll (issue 9:
  // ~70 ms of each activity's queue time in a burst). Production servers set the same flag.
  const extraArgs: string[] = [
    '--log-level',
    'error',
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
  ];
  if (opts.uiCodecEndpoint) extraArgs.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  const namespace = opts.namespace ?? 'default';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      // No CLI and no Go: let the SDK download one (needs internet).
      executable: cli ? { type: 'existing-path', path: cli.path } : { type: 'cached-download' },
      ...(opts.port !== undefined && { port: opts.port }),
      ...(opts.ip !== undefined && { ip: opts.ip }),
      ...(opts.dbFilename !== undefined && { dbFilename: opts.dbFilename }),
      ...(opts.uiPort !== undefined && { ui: true, uiPort: opts.uiPort }),
      namespace,
      searchAttributes: linkSessionSearchAttributes,
      extraArgs,
    },
  });
  const uiUrl = opts.uiPort !== undefined ? `http://${opts.ip ?? '127.0.0.1'}:${opts.uiPort}` : undefined;
  return {
    address: env.address,
    namespace,
    ...(uiUrl && { uiUrl }),
    ...(cli && { cli }),
    env,
    stop: () => env.teardown(),
  };
}
