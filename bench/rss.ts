/**
 * 3c. Worker memory with 1,000 open sessions: the worker exactly as `npm run worker` runs it
 * (dist/worker.mjs, built when stale; MALLOC_ARENA_MAX=2; on a throwaway PostgreSQL), on a task
 * queue of its own. The benchmark starts N waiting sessions (production timings: nothing happens
 * for 5 minutes), waits until the worker has run every one's first workflow task (read from its
 * own Prometheus exporter: task count and sticky-cache size), then reads VmRSS from
 * /proc/<pid>/status.
 *
 * Two variants: `shipped` is `npm run worker` as configured by default (a sticky cache of 500
 * workflows), and also measures what an eviction costs: a query to a session no longer cached
 * replays its history; `all-cached` sets LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS=auto, so the SDK sizes
 * the cache from the heap limit (~1,100 here) and every open session stays cached.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDist, DIST_DIR } from '../scripts/build';
import { loadEnv, timingPolicy } from '../src/config/env';
import { type LinkSessionHandle, startLinkSession } from '../src/temporal/startLinkSession';
import { getSessionQuery } from '../src/workflows/definitions';
import { freePort } from '../test/helpers/freePort';
import { startPostgres, type ThrowawayPostgres } from './postgres';
import type { BenchStack } from './stack';
import { mapLimit, median, percentile, progress, sleep, until } from './util';

export interface RssResult {
  sessions: number;
  variant: 'shipped' | 'all-cached';
  /** The worker's sticky-cache size (LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS), null for the SDK's. */
  max_cached_workflows: number | null;
  database: string;
  idle_rss_mb: number;
  rss_mb: number;
  rss_max_mb: number;
  per_session_kb: number;
  cached_workflows: number;
  start_seconds: number;
  /** When sessions outnumber the cache: a query to an evicted session (a full replay), p50/p99 over 50, in ms. */
  evicted_query_p50_ms: number | null;
  evicted_query_p99_ms: number | null;
}

/** Children to kill and directories to remove if the benchmark is interrupted. */
export const children = new Set<ChildProcess>();
export const tempDirs = new Set<string>();

function vmRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) / 1024;
}

const mb = (v: number) => Math.round(v * 10) / 10;

async function stopChild(child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(timeoutMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }
}

/** The worker's own Prometheus exporter: workflow tasks completed and workflows cached. */
async function workerMetrics(url: string): Promise<{ tasks: number; cached: number } | undefined> {
  const text = await fetch(url)
    .then((r) => (r.ok ? r.text() : undefined))
    .catch(() => undefined);
  if (text === undefined) return undefined;
  const sum = (re: RegExp) => [...text.matchAll(re)].reduce((acc, m) => acc + Number(m[1]), 0);
  return {
    tasks: sum(/^temporal_workflow_task_execution_latency(?:_seconds)?_count\{[^}]*\} (\S+)$/gm),
    cached: sum(/^temporal_sticky_cache_size\{[^}]*\} (\S+)$/gm),
  };
}

export async function benchWorkerRss(
  stack: BenchStack,
  opts: { sessions: number; variant: RssResult['variant'] },
): Promise<RssResult> {
  const variant = opts.variant;
  const cacheSize = variant === 'shipped' ? loadEnv({}).LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS : undefined;
  const capped = cacheSize !== undefined && cacheSize < opts.sessions;
  const dataDir = await mkdtemp(join(tmpdir(), 'linkflow-bench-worker-'));
  tempDirs.add(dataDir);
  let pg: ThrowawayPostgres | null = null;
  let child: ChildProcess | null = null;
  try {
    await buildDist({ ifStale: true });
    pg = await startPostgres();
    if (!pg) throw new Error('rss: `npm run worker` needs PostgreSQL; no PostgreSQL server binaries found');
    const taskQueue = `bench-rss-${randomUUID()}`;
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    // What `npm run worker` gets; nothing else from the caller's environment.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      MALLOC_ARENA_MAX: '2',
      TEMPORAL_ADDRESS: stack.devServer.address,
      TEMPORAL_NAMESPACE: stack.namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LINKFLOW_DATA_DIR: dataDir,
      PLAID_BASE_URL: stack.emulator.url,
      LINKFLOW_API_KEY: stack.apiKey,
      LINKFLOW_ENCRYPTION_KEY: stack.encryptionKey,
      LINKFLOW_WORKER_METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
      DATABASE_URL: pg.url,
      ...(variant === 'all-cached' && { LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: 'auto' }),
    };
    const started = Date.now();
    const proc = spawn(process.execPath, [join(DIST_DIR, 'worker.mjs')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const pid = proc.pid;
    if (pid === undefined) throw new Error('could not start the worker process');
    const alive = () => {
      if (proc.exitCode !== null) throw new Error(`worker process exited ${proc.exitCode}: ${output}`);
    };

    await until(
      'the worker process to run',
      () => {
        alive();
        return output.includes('linkflow worker: task queue') ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const startSeconds = (Date.now() - started) / 1000;
    await until('the worker metrics', async () => (await workerMetrics(metricsUrl)) ?? undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    await sleep(1000);
    const idle = vmRssMb(pid);
    progress(
      `rss (${variant}): worker up in ${startSeconds.toFixed(1)} s, idle VmRSS ${mb(idle)} MB; opening ${opts.sessions} sessions`,
    );

    const timing = timingPolicy(stack.env);
    const expiration = new Date(Date.now() + 4 * 3_600_000).toISOString();
    const handles: LinkSessionHandle[] = await mapLimit(
      Array.from({ length: opts.sessions }, (_, i) => i),
      32,
      (i) =>
        startLinkSession(
          stack.client,
          {
            linkToken: `link-sandbox-${randomUUID()}`,
            expiration,
            userId: `user-${randomUUID()}`,
            clientUserId: `bench-rss-${i}`,
            products: ['transactions'],
            payment: { product: 'auth' },
            timing,
            createdAt: new Date().toISOString(),
          },
          { taskQueue },
        ),
    );
    const wanted = Math.min(opts.sessions, cacheSize ?? opts.sessions);
    let metrics = { tasks: 0, cached: 0 };
    await until(
      `the worker to run ${opts.sessions} first workflow tasks`,
      async () => {
        alive();
        metrics = (await workerMetrics(metricsUrl)) ?? metrics;
        return metrics.tasks >= opts.sessions && metrics.cached >= wanted ? true : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 200 },
    );
    await sleep(1000);
    const samples: number[] = [];
    for (let i = 0; i < 6; i++) {
      samples.push(vmRssMb(pid));
      await sleep(500);
    }
    const rss = median(samples);
    metrics = (await workerMetrics(metricsUrl)) ?? metrics;

    let evicted: number[] = [];
    if (capped) {
      // The first sessions started are long evicted: each query replays that session's history.
      evicted = await mapLimit(handles.slice(0, 50), 1, async (handle) => {
        const t0 = performance.now();
        await handle.query(getSessionQuery);
        return performance.now() - t0;
      });
    }
    return {
      sessions: opts.sessions,
      variant,
      max_cached_workflows: cacheSize ?? null,
      database: 'PostgreSQL (throwaway)',
      idle_rss_mb: mb(idle),
      rss_mb: mb(rss),
      rss_max_mb: mb(Math.max(...samples)),
      per_session_kb: Math.round(((rss - idle) * 1024) / opts.sessions),
      cached_workflows: metrics.cached,
      start_seconds: Math.round(startSeconds * 10) / 10,
      evicted_query_p50_ms: capped ? Math.round(percentile(evicted, 50) * 10) / 10 : null,
      evicted_query_p99_ms: capped ? Math.round(percentile(evicted, 99) * 10) / 10 : null,
    };
  } finally {
    if (child) await stopChild(child);
    if (pg) await pg.stop();
    await rm(dataDir, { recursive: true, force: true });
    tempDirs.delete(dataDir);
  }
}
