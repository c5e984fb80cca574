/**
 * The production topology, run as `npm run cluster` runs it (src/main/cluster.ts as a child
 * process): PostgreSQL, the Temporal server 1.29.1 on it, the UI server, 2 workers and 2 APIs as
 * their production entry points, the emulator. Sessions go through both APIs; one worker is
 * SIGKILLed while exchanges run and the Temporal server is SIGKILLed once (the cluster restarts
 * both, like compose's restart policy). Every session must complete with every public token
 * exchanged exactly once; SIGTERM must then stop every process.
 *
 * The Temporal binaries are built on first use (minutes) into ~/.cache/linkflow and reused.
 * Timings and the peak number of PostgreSQL connections are printed for the README.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterJson } from '../../src/cluster/config';
import { temporalPorts } from '../../src/cluster/temporal';
import { ensureServerBinaries } from '../../src/temporal/serverBuild';
import { freePort } from '../helpers/freePort';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SESSIONS = 12;
const INSTITUTIONS = ['ins_109508', 'ins_109509'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dataDir: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let cluster: ClusterJson;
let startupS = 0;
const output: string[] = [];

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms (${String(last)})`);
    await sleep(250);
  }
}

function portFree(port: number): Promise<boolean> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise<boolean>((resolve) => {
        const server = createServer();
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
      }),
  );
}

/** A block of ports below the ephemeral range (Temporal stores membership ports as smallint). */
async function freeBlock(size: (base: number) => number[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    const ports = size(base);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports');
}

async function readCluster(): Promise<ClusterJson | undefined> {
  const path = join(dataDir, 'cluster.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as ClusterJson;
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${cluster.api_key}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function emulator(method: string, path: string, body?: unknown) {
  const res = await fetch(`${cluster.emulator}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  expect(res.status, `${method} ${path}`).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  // Minutes on a fresh machine (~5 min for the server on 2 cores), nothing once cached.
  await ensureServerBinaries({ log: (line) => console.log(line) });
  dataDir = await mkdtemp(join(tmpdir(), 'linkflow-cluster-'));
  // PostgreSQL runs as the postgres user under root: it must reach its data dir inside this one.
  await chmod(dataDir, 0o755);
  const temporalPort = await freeBlock((base) => {
    const p = temporalPorts(base);
    return [p.frontend, p.frontendHttp, p.history, p.matching, p.worker, p.metrics, ...p.membership];
  });
  const apiPort = await freeBlock((base) => [base, base + 1]);
  const env = {
    ...process.env,
    LINKFLOW_DATA_DIR: dataDir,
    PORT: String(apiPort),
    PLAID_EMULATOR_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_TEMPORAL_PORT: String(temporalPort),
    LINKFLOW_CLUSTER_UI_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_POSTGRES_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_WORKERS: '2',
    LINKFLOW_CLUSTER_APIS: '2',
    // Webhooks missed during the Temporal restart are retried soon, and polling covers the rest.
    PLAID_EMULATOR_WEBHOOK_RETRY_MS: '500,1000,2000,4000,8000',
    LINKFLOW_POLL_AFTER: '3s',
    LINKFLOW_POLL_EVERY: '1s',
    // Plaid's call budget, high enough not to slow the test; checked as the server sees it.
    LINKFLOW_WORKER_ACTIVITIES_PER_SECOND: '500',
    LINKFLOW_API_KEY: '',
    LINKFLOW_ENCRYPTION_KEY: '',
    TEMPORAL_ADDRESS: '',
    DATABASE_URL: '',
  };
  const started = Date.now();
  child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/main/cluster.ts')], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  }
  cluster = await Promise.race([
    waitFor('cluster.json', 240_000, readCluster),
    exited.then((code) => {
      throw new Error(`npm run cluster exited (${code}) before it was up:\n${output.join('')}`);
    }),
  ]);
  startupS = (Date.now() - started) / 1000;
  console.log(`cluster up in ${startupS.toFixed(1)} s`);
}, 1_200_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(60_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 90_000);

describe('npm run cluster (PostgreSQL, Temporal server, UI server, 2 workers, 2 APIs, emulator)', () => {
  it("gives the Temporal server each worker's task-queue activity rate (Plaid's call budget)", async () => {
    const connection = await Connection.connect({ address: cluster.temporal.address });
    try {
      const { pollers } = await connection.workflowService.describeTaskQueue({
        namespace: cluster.temporal.namespace,
        taskQueue: { name: 'link-sessions' },
        taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
      });
      const workerIdentities = new Set(cluster.workers.map((w) => `${w.pid}@${hostname()}`));
      const rates = (pollers ?? [])
        .filter((p) => workerIdentities.has(p.identity ?? ''))
        .map((p) => p.ratePerSecond);
      expect(rates).toEqual([500, 500]);
    } finally {
      await connection.close();
    }
  });

  it('writes cluster.json as the contract says and serves the UI', async () => {
    expect(cluster.apis).toHaveLength(2);
    expect(cluster.workers).toHaveLength(2);
    expect(cluster.api_processes.map((a) => a.url)).toEqual(cluster.apis);
    expect(cluster.temporal.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cluster.api_key.length).toBeGreaterThanOrEqual(16);
    for (const url of cluster.apis) expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(cluster.temporal.ui)).status).toBe(200);
    // The UI server's settings name the codec endpoint the browser decodes payloads through.
    const settings = (await (await fetch(`${cluster.temporal.ui}/api/v1/settings`)).json()) as {
      Codec?: { Endpoint?: string };
    };
    const endpoint = settings.Codec?.Endpoint ?? '';
    expect(endpoint.startsWith(`${cluster.apis[0]}/codec/ui/`)).toBe(true);
    // The browser sends no credentials: the endpoint's path carries the codec token. The Origin
    // alone, which any local process can forge, opens nothing.
    const forged = await fetch(`${cluster.apis[0]}/codec/decode`, {
      method: 'POST',
      headers: { origin: cluster.temporal.ui, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(forged.status).toBe(403);
    const decoded = await fetch(`${endpoint}/decode`, {
      method: 'POST',
      headers: { origin: cluster.temporal.ui, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(cluster.temporal.ui);
  });

  it('completes sessions through both APIs with a worker and an API SIGKILLed and Temporal restarted: each token exchanged once', async () => {
    const passwords = JSON.parse(
      await readFile(join(dataDir, 'cluster/postgres-passwords.json'), 'utf8'),
    ) as { superuser: string };
    const admin = new pg.Client({
      connectionString: `postgres://postgres:${encodeURIComponent(passwords.superuser)}@127.0.0.1:${cluster.postgres.port}/postgres`,
    });
    await admin.connect();
    admin.on('error', () => undefined);
    let peakConnections = 0;
    let sampling = true;
    // Samples, not synchronisation: the peak number of connections, for the README.
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await admin
          .query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
          )
          .catch(() => ({ rows: [{ n: '0' }] }));
        peakConnections = Math.max(peakConnections, Number(rows[0]?.n ?? 0));
        await sleep(250);
      }
    })();
    try {
      const began = Date.now();
      const sessions: Array<{ id: string; api: string; tokens: string[] }> = [];
      for (let i = 0; i < SESSIONS; i++) {
        const base = cluster.apis[i % 2] as string;
        const created = await api(base, 'POST', '/link/sessions', { client_user_id: `cluster-user-${i}` });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        sessions.push({ id: created.body.session_id as string, api: base, tokens: [] });
      }
      const complete = async (from: number, to: number) => {
        await Promise.all(
          sessions.slice(from, to).map(async (session) => {
            const done = await emulator('POST', '/__emulator/link/complete', {
              link_token: session.id,
              institutions: INSTITUTIONS,
            });
            session.tokens = done.public_tokens as string[];
          }),
        );
      };

      // Exchanges in flight when a worker dies: its activities come back to the other worker.
      await complete(0, 4);
      const victim = cluster.workers[0]?.pid as number;
      process.kill(victim, 'SIGKILL');
      const replaced = await waitFor('worker restarted', 60_000, async () => {
        const now = await readCluster();
        const pid = now?.workers[0]?.pid;
        return pid && pid !== victim && alive(pid) ? pid : undefined;
      });
      expect(alive(victim)).toBe(false);
      // An API dies too: webhooks for the sessions it created fail until it is back, and Plaid
      // (the emulator) retries them.
      const apiVictim = cluster.api_processes[1]?.pid as number;
      process.kill(apiVictim, 'SIGKILL');
      await complete(4, 8);
      await waitFor('API restarted', 60_000, async () => {
        const pid = (await readCluster())?.api_processes[1]?.pid;
        return pid && pid !== apiVictim && (await fetch(`${cluster.apis[1]}/readyz`)).ok ? pid : undefined;
      });

      // The Temporal server dies and comes back; the APIs must be ready again within seconds.
      const oldTemporal = cluster.temporal.pid;
      process.kill(oldTemporal, 'SIGKILL');
      const killedAt = Date.now();
      // While it is down the APIs are alive but not ready (compose's health check is /readyz).
      const notReady = await waitFor(
        'an API answering /readyz 503 while Temporal is down',
        30_000,
        async () => {
          const res = await fetch(`${cluster.apis[0]}/readyz`);
          return res.status === 503 ? ((await res.json()) as { temporal: string }) : undefined;
        },
      );
      expect(notReady.temporal).toBe('unreachable');
      expect((await fetch(`${cluster.apis[0]}/healthz`)).status).toBe(200);
      await waitFor('Temporal restarted', 60_000, async () => {
        const pid = (await readCluster())?.temporal.pid;
        return pid && pid !== oldTemporal ? pid : undefined;
      });
      await waitFor('APIs ready after the Temporal restart', 90_000, async () => {
        const ready = await Promise.all(cluster.apis.map(async (url) => (await fetch(`${url}/readyz`)).ok));
        return ready.every(Boolean) ? true : undefined;
      });
      const apisBackS = (Date.now() - killedAt) / 1000;
      await complete(8, SESSIONS);

      const views = await waitFor('every session ended', 180_000, async () => {
        const all = await Promise.all(
          sessions.map(
            async (s, i) =>
              (await api(cluster.apis[(i + 1) % 2] as string, 'GET', `/link/sessions/${s.id}`)).body,
          ),
        );
        return all.every((v) => ['completed', 'exited', 'expired', 'failed'].includes(v.status as string))
          ? all
          : undefined;
      });
      const elapsedS = (Date.now() - began) / 1000;

      const state = (await emulator('GET', '/__emulator/state')) as { exchanges: Record<string, number> };
      const tokens = sessions.flatMap((s) => s.tokens);
      expect(tokens).toHaveLength(SESSIONS * INSTITUTIONS.length);
      const counts = tokens.map((t) => state.exchanges[t]);
      expect(
        counts.filter((n) => n !== 1),
        'public tokens not exchanged exactly once',
      ).toEqual([]);
      expect(views.map((v) => v.status)).toEqual(sessions.map(() => 'completed'));
      for (const view of views) {
        const items = view.items as Array<{ status: string }>;
        expect(items.map((item) => item.status)).toEqual(INSTITUTIONS.map(() => 'exchanged'));
      }
      console.log(
        JSON.stringify({
          cluster_startup_s: startupS,
          sessions: SESSIONS,
          sessions_elapsed_s: elapsedS,
          worker_replaced_pid: replaced,
          apis_ready_after_temporal_kill_s: apisBackS,
          peak_postgres_connections: peakConnections,
        }),
      );
    } finally {
      sampling = false;
      await sampler;
      await admin.end();
    }
  }, 400_000);

  it('stops every process on SIGTERM', async () => {
    const last = await readCluster();
    expect(last).toBeDefined();
    const pids = [
      ...(last?.workers.map((w) => w.pid) ?? []),
      ...(last?.api_processes.map((a) => a.pid) ?? []),
      last?.temporal.pid,
      last?.postgres.pid,
    ].filter((pid): pid is number => typeof pid === 'number');
    expect(pids).toHaveLength(6);
    const stopping = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    console.log(`cluster stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
    expect(pids.filter(alive)).toEqual([]);
    for (const url of cluster.apis) await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
  }, 240_000);
});
