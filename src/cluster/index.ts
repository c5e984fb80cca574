/**
 * The production topology on one machine without Docker, as a value (`npm run cluster` runs it
 * until a signal): PostgreSQL, the Temporal server on it, the Temporal UI server, N workers and M
 * APIs (each exactly the production entry point, `node dist/worker.mjs` / `node dist/api.mjs`, as
 * its own process) and the Plaid emulator. The deployment files are the compose file's, under
 * deploy/. Start order: database, schemas, Temporal, namespace and search attributes (verified),
 * emulator, workers, APIs (ready), UI; stop is the reverse.
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import type { Env } from '../config/env';
import { startEmulator } from '../emulator';
import { resolveSecrets } from '../main/services';
import { ensureTemporalCli } from '../temporal/cli';
import { ensureServerBinaries } from '../temporal/serverBuild';
import { SHUTDOWN_FORCE_MS } from '../temporal/worker';
import { CLUSTER_JSON, type ClusterEnv, type ClusterJson } from './config';
import { requirePortFree } from './ports';
import { type ClusterPasswords, startClusterPostgres } from './postgres';
import { type SupervisedProcess, supervise } from './supervisor';
import {
  registerNamespace,
  setUpTemporalSchemas,
  startTemporalServer,
  temporalPorts,
  temporalServerEnv,
} from './temporal';
import { startUiServer } from './ui';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEPLOY_DIR = join(REPO_ROOT, 'deploy');

/** Past the worker's shutdown force time (an exchange's save finishes first), like compose's stop_grace_period. */
export const WORKER_STOP_GRACE_MS = SHUTDOWN_FORCE_MS + 25_000;

export interface ClusterInfo {
  json: ClusterJson;
  /** Seconds from start to everything ready, with the part that was building binaries. */
  timings: { totalS: number; buildS: number };
  banner: string[];
  /** The worker processes (the benchmark stops one to compare 1 worker with 2). */
  workers: SupervisedProcess[];
}

export interface Cluster {
  /** Starts every part in order; on failure the caller calls stop(). */
  start(): Promise<ClusterInfo>;
  /** Stops whatever has started so far, in reverse order; safe at any time, and twice. */
  stop(): Promise<void>;
}

async function loadOrCreatePasswords(dir: string): Promise<ClusterPasswords> {
  const path = join(dir, 'postgres-passwords.json');
  if (existsSync(path)) return JSON.parse(await readFile(path, 'utf8')) as ClusterPasswords;
  const fresh = () => randomBytes(18).toString('base64url');
  const passwords = { superuser: fresh(), temporal: fresh(), linkflow: fresh() };
  await writeFile(path, JSON.stringify(passwords, null, 2), { mode: 0o600 });
  return passwords;
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  const staging = `${path}.${process.pid}.tmp`;
  await writeFile(staging, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(staging, path);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready after ${timeoutMs / 1000} s${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await sleep(250);
  }
}

export function createCluster(
  env: Env,
  clusterEnv: ClusterEnv,
  opts: { log: (line: string) => void },
): Cluster {
  const { log } = opts;
  const stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      for (const { name, stop } of stops) {
        await stop().catch((err) => log(`stopping ${name} failed: ${String(err)}`));
      }
    })();
    return stopped;
  };
  /** Registers a started part; one started after stop() was called is stopped at once. */
  const track = async (name: string, stopPart: () => Promise<unknown>) => {
    if (stopped) {
      await stopPart().catch(() => undefined);
      throw new Error('the cluster was stopped while starting');
    }
    stops.unshift({ name, stop: stopPart });
  };

  async function start(): Promise<ClusterInfo> {
    const startedAt = Date.now();
    const dataDir = resolve(env.LINKFLOW_DATA_DIR);
    const clusterDir = join(dataDir, 'cluster');
    const logDir = join(clusterDir, 'logs');
    await mkdir(logDir, { recursive: true });
    const jsonPath = join(dataDir, CLUSTER_JSON);
    await rm(jsonPath, { force: true });

    const apiPorts = Array.from({ length: clusterEnv.LINKFLOW_CLUSTER_APIS }, (_, i) => env.PORT + i);
    for (const [i, port] of apiPorts.entries()) await requirePortFree(port, `API ${i + 1}`, 'PORT');
    await requirePortFree(env.PLAID_EMULATOR_PORT, 'Plaid emulator', 'PLAID_EMULATOR_PORT');
    const ports = temporalPorts(clusterEnv.LINKFLOW_CLUSTER_TEMPORAL_PORT);
    for (const [part, port] of Object.entries(ports)) {
      for (const p of [port].flat())
        await requirePortFree(p, `Temporal ${part}`, 'LINKFLOW_CLUSTER_TEMPORAL_PORT');
    }
    await requirePortFree(clusterEnv.LINKFLOW_CLUSTER_UI_PORT, 'Temporal UI', 'LINKFLOW_CLUSTER_UI_PORT');
    await requirePortFree(
      clusterEnv.LINKFLOW_CLUSTER_POSTGRES_PORT,
      'PostgreSQL',
      'LINKFLOW_CLUSTER_POSTGRES_PORT',
    );

    // Binaries first (minutes on the first run, cached after), and dist/ for the processes.
    const buildStarted = Date.now();
    const binaries = await ensureServerBinaries({ log });
    const cli = await ensureTemporalCli({ log });
    if (!cli) throw new Error('no Temporal CLI and no Go toolchain to build it');
    await run(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts/build.ts'), '--if-stale', '--quiet'],
      {
        cwd: REPO_ROOT,
        timeout: 300_000,
      },
    );
    const buildS = (Date.now() - buildStarted) / 1000;

    const onEvent = (line: string) => log(line);
    // cluster.json follows restarts: a restarted worker or server has a new pid.
    let json: ClusterJson | undefined;
    const workers: SupervisedProcess[] = [];
    const apis: SupervisedProcess[] = [];
    let temporalProcess: SupervisedProcess | undefined;
    let postgresProcess: SupervisedProcess | undefined;
    const writeClusterJson = async () => {
      if (!json) return;
      json.workers = workers.map((w) => ({ pid: w.pid() ?? 0 }));
      json.api_processes = apis.map((a, i) => ({ url: json?.apis[i] ?? '', pid: a.pid() ?? 0 }));
      json.temporal.pid = temporalProcess?.pid() ?? 0;
      json.postgres.pid = postgresProcess?.pid() ?? 0;
      await writeJsonAtomically(jsonPath, json);
    };
    const onRestart = () => void writeClusterJson().catch(() => undefined);

    const passwords = await loadOrCreatePasswords(clusterDir);
    const postgres = await startClusterPostgres({
      dir: join(clusterDir, 'postgres'),
      port: clusterEnv.LINKFLOW_CLUSTER_POSTGRES_PORT,
      passwords,
      logDir,
      deployDir: DEPLOY_DIR,
      onEvent,
      onStart: onRestart,
    });
    postgresProcess = postgres.process;
    await track('PostgreSQL', () => postgres.process.stop());
    log(`PostgreSQL on 127.0.0.1:${postgres.port}`);

    await setUpTemporalSchemas({
      binaries,
      postgres,
      temporalPassword: passwords.temporal,
      deployDir: DEPLOY_DIR,
    });
    const temporalAddress = `127.0.0.1:${ports.frontend}`;
    const temporal = startTemporalServer({
      binaries,
      env: temporalServerEnv({
        postgresPort: postgres.port,
        temporalPassword: passwords.temporal,
        ports,
        dynamicConfigFile: join(DEPLOY_DIR, 'temporal-dynamicconfig.yaml'),
      }),
      deployDir: DEPLOY_DIR,
      logDir,
      onEvent,
      onStart: onRestart,
    });
    temporalProcess = temporal;
    await track('Temporal server', () => temporal.stop());
    const namespace = env.TEMPORAL_NAMESPACE;
    await registerNamespace({ cli: cli.path, address: temporalAddress, namespace, deployDir: DEPLOY_DIR });
    log(`Temporal server on ${temporalAddress}, namespace ${namespace} with its search attributes`);

    const emulator = await startEmulator({
      port: env.PLAID_EMULATOR_PORT,
      stateFile: join(dataDir, 'emulator-state.json'),
      userApi: env.PLAID_EMULATOR_USER_API,
    });
    await track('Plaid emulator', () => emulator.close());

    // The embedded default's rule: each secret from the environment, else generated into the data dir.
    const secrets = await resolveSecrets(env, dataDir, { allowDevSecrets: true });
    const apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
    const uiUrl = `http://127.0.0.1:${clusterEnv.LINKFLOW_CLUSTER_UI_PORT}`;
    // One metrics port cannot serve several workers: the cluster's workers run without one.
    const codecToken = env.LINKFLOW_CODEC_TOKEN ?? randomBytes(24).toString('base64url');
    const { LINKFLOW_WORKER_METRICS_PORT: _metricsPort, ...parentEnv } = process.env;
    const processEnv = {
      ...parentEnv,
      NODE_ENV: 'production',
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
      LINKFLOW_DATA_DIR: dataDir,
      DATABASE_URL: postgres.url('linkflow', 'linkflow'),
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      PLAID_ENV: env.PLAID_ENV,
      PLAID_BASE_URL: env.PLAID_ENV === 'emulator' ? emulator.url : (env.PLAID_BASE_URL ?? ''),
      LINKFLOW_API_KEY: secrets.apiKey,
      LINKFLOW_ENCRYPTION_KEY: secrets.encryptionKey,
      // The UI server sends no credentials of its own: its codec endpoint carries this token.
      LINKFLOW_CODEC_TOKEN: codecToken,
    };

    for (let i = 0; i < clusterEnv.LINKFLOW_CLUSTER_WORKERS; i++) {
      const worker = supervise(
        {
          name: `worker-${i + 1}`,
          command: process.execPath,
          args: [join(REPO_ROOT, 'dist/worker.mjs')],
          env: processEnv,
          cwd: REPO_ROOT,
          stopGraceMs: WORKER_STOP_GRACE_MS,
        },
        { logDir, onEvent, onStart: onRestart },
      );
      workers.push(worker);
      await track(`worker ${i + 1}`, () => worker.stop());
    }
    for (const [i, port] of apiPorts.entries()) {
      const url = apiUrls[i] as string;
      const api = supervise(
        {
          name: `api-${i + 1}`,
          command: process.execPath,
          args: [join(REPO_ROOT, 'dist/api.mjs')],
          env: {
            ...processEnv,
            HOST: '127.0.0.1',
            PORT: String(port),
            // Each API names itself in the link tokens it creates: Plaid's webhooks for a
            // session come back to the API that created it (no load balancer here).
            PLAID_WEBHOOK_URL: `${url}/webhooks/plaid`,
            LINKFLOW_UI_ORIGINS: uiUrl,
          },
          cwd: REPO_ROOT,
        },
        { logDir, onEvent, onStart: onRestart },
      );
      apis.push(api);
      await track(`API ${i + 1}`, () => api.stop());
    }
    for (const url of apiUrls) {
      await waitFor(`API ${url}`, 120_000, async () =>
        (await fetch(`${url}/readyz`)).ok ? true : undefined,
      );
    }
    await waitForWorkerPollers(temporalAddress, namespace, env.TEMPORAL_TASK_QUEUE, workers);

    const ui = await startUiServer({
      binaries,
      dir: join(clusterDir, 'ui'),
      port: clusterEnv.LINKFLOW_CLUSTER_UI_PORT,
      temporalAddress,
      namespace,
      codecEndpoint: `${apiUrls[0]}/codec/ui/${codecToken}`,
      logDir,
      onEvent,
    });
    await track('Temporal UI server', () => ui.process.stop());
    await waitFor('Temporal UI', 60_000, async () => ((await fetch(ui.url)).ok ? true : undefined));

    json = {
      apis: apiUrls,
      api_processes: [],
      workers: [],
      temporal: { address: temporalAddress, ui: ui.url, namespace, pid: 0 },
      emulator: emulator.url,
      api_key: secrets.apiKey,
      postgres: { port: postgres.port, pid: 0 },
      logs: logDir,
      pid: process.pid,
    };
    await writeClusterJson();
    await track('cluster.json', () => rm(jsonPath, { force: true }));

    const totalS = (Date.now() - startedAt) / 1000;
    const banner = [
      '',
      `linkflow cluster is running (${totalS.toFixed(1)} s, ${buildS.toFixed(1)} s of it building)`,
      ...apiUrls.map((url, i) => `  API ${i + 1}          ${url}   (docs ${url}/docs, demo ${url}/demo)`),
      `  Workers        ${workers.map((w) => `pid ${w.pid()}`).join(', ')}`,
      `  Temporal       ${temporalAddress} (PostgreSQL on 127.0.0.1:${postgres.port})`,
      `  Temporal UI    ${ui.url}/namespaces/${namespace}/workflows`,
      `  Plaid emulator ${emulator.url}`,
      `  API key        ${secrets.apiKey}`,
      `  Processes      ${jsonPath}`,
      `  Logs           ${logDir}`,
      '',
      `  Try it:        PORT=${env.PORT} npm run demo`,
      '  Stop:          Ctrl-C (SIGTERM)',
      '',
    ];
    return { json, timings: { totalS, buildS }, banner, workers };
  }

  return { start, stop };
}

/** Every worker process polls the task queue (its identity is `<pid>@<host>`, the SDK's default). */
async function waitForWorkerPollers(
  address: string,
  namespace: string,
  taskQueue: string,
  workers: SupervisedProcess[],
): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await waitFor('workers polling', 120_000, async () => {
      const { pollers } = await connection.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
      });
      const identities = new Set((pollers ?? []).map((p) => p.identity));
      return workers.every((w) => identities.has(`${w.pid()}@${hostname()}`)) ? true : undefined;
    });
  } finally {
    await connection.close();
  }
}
