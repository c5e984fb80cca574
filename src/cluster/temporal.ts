/**
 * The cluster's Temporal: schemas set up with Temporal's SQL tool (deploy/temporal-schema.sh), the
 * server started on deploy/temporal/linkflow.yaml with the project's dynamic config, then the
 * namespace and search attributes registered and verified (deploy/temporal-setup.sh, through the
 * Temporal CLI): the same files the compose file runs.
 *
 * The server binds loopback only: it has no TLS and no authorizer here (see README).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerBinaries } from '../temporal/serverBuild';
import type { ClusterPostgres } from './postgres';
import { type SupervisedProcess, supervise } from './supervisor';

const run = promisify(execFile);

export interface TemporalPorts {
  frontend: number;
  frontendHttp: number;
  history: number;
  matching: number;
  worker: number;
  membership: [number, number, number, number];
  metrics: number;
}

/**
 * Temporal's internal ports, laid out around the frontend's as in Temporal's own configs (7233:
 * history 7234, matching 7235, worker 7239, HTTP 7243, membership 6933-6939). Fixed rather than
 * picked by the OS: the membership table stores ports as smallint, so ephemeral ports (> 32767)
 * make the server fail at start.
 */
export function temporalPorts(frontend: number): TemporalPorts {
  return {
    frontend,
    frontendHttp: frontend + 10,
    history: frontend + 1,
    matching: frontend + 2,
    worker: frontend + 6,
    membership: [frontend - 300, frontend - 299, frontend - 298, frontend - 294],
    metrics: frontend + 800,
  };
}

export async function setUpTemporalSchemas(opts: {
  binaries: ServerBinaries;
  postgres: ClusterPostgres;
  temporalPassword: string;
  deployDir: string;
}): Promise<void> {
  await run('sh', [join(opts.deployDir, 'temporal-schema.sh')], {
    env: {
      ...process.env,
      TEMPORAL_SQL_TOOL: opts.binaries.sqlTool,
      SQL_HOST: '127.0.0.1',
      SQL_PORT: String(opts.postgres.port),
      SQL_USER: 'temporal',
      SQL_PASSWORD: opts.temporalPassword,
    },
    timeout: 180_000,
  });
}

/** The variables deploy/temporal/linkflow.yaml reads, for this machine. */
export function temporalServerEnv(opts: {
  postgresPort: number;
  temporalPassword: string;
  ports: TemporalPorts;
  dynamicConfigFile: string;
}): Record<string, string> {
  const { ports } = opts;
  return {
    TEMPORAL_DB_HOST: '127.0.0.1',
    TEMPORAL_DB_PORT: String(opts.postgresPort),
    TEMPORAL_DB_USER: 'temporal',
    TEMPORAL_DB_PASSWORD: opts.temporalPassword,
    TEMPORAL_BIND_IP: '127.0.0.1',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    TEMPORAL_FRONTEND_PORT: String(ports.frontend),
    TEMPORAL_FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    TEMPORAL_HISTORY_PORT: String(ports.history),
    TEMPORAL_MATCHING_PORT: String(ports.matching),
    TEMPORAL_WORKER_PORT: String(ports.worker),
    TEMPORAL_FRONTEND_MEMBERSHIP_PORT: String(ports.membership[0]),
    TEMPORAL_HISTORY_MEMBERSHIP_PORT: String(ports.membership[1]),
    TEMPORAL_MATCHING_MEMBERSHIP_PORT: String(ports.membership[2]),
    TEMPORAL_WORKER_MEMBERSHIP_PORT: String(ports.membership[3]),
    TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
    TEMPORAL_DYNAMIC_CONFIG_FILE: opts.dynamicConfigFile,
  };
}

export function startTemporalServer(opts: {
  binaries: ServerBinaries;
  env: Record<string, string>;
  deployDir: string;
  logDir: string;
  onEvent?: (line: string) => void;
  onStart?: (pid: number) => void;
}): SupervisedProcess {
  return supervise(
    {
      name: 'temporal-server',
      command: opts.binaries.server,
      // Reads <root>/<config>/<env>.yaml: deploy/temporal/linkflow.yaml.
      args: [
        '--root',
        opts.deployDir,
        '--config',
        'temporal',
        '--env',
        'linkflow',
        '--allow-no-auth',
        'start',
      ],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...opts.env },
      stopGraceMs: 20_000,
    },
    {
      logDir: opts.logDir,
      ...(opts.onEvent && { onEvent: opts.onEvent }),
      ...(opts.onStart && { onStart: opts.onStart }),
    },
  );
}

/**
 * Namespace and search attributes, registered and verified usable by the frontend (retried for up
 * to `timeoutS`; fails loudly, unlike the old `|| true`).
 */
export async function registerNamespace(opts: {
  cli: string;
  address: string;
  namespace: string;
  deployDir: string;
  timeoutS?: number;
}): Promise<void> {
  try {
    await run('sh', [join(opts.deployDir, 'temporal-setup.sh')], {
      env: {
        ...process.env,
        TEMPORAL_CLI: opts.cli,
        TEMPORAL_ADDRESS: opts.address,
        TEMPORAL_NAMESPACE: opts.namespace,
        TEMPORAL_SETUP_TIMEOUT_S: String(opts.timeoutS ?? 120),
      },
      timeout: ((opts.timeoutS ?? 120) + 30) * 1000,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`registering namespace ${opts.namespace} failed: ${stderr.trim() || String(err)}`);
  }
}
