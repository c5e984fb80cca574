/**
 * 3c. Worker memory with 1,000 open sessions: the worker runs in its own process (bench/worker.ts,
 * composed like `npm run worker`, on a throwaway PostgreSQL), on a task queue of its own. The
 * benchmark starts N waiting sessions (production timings: nothing happens for 5 minutes), waits
 * until the worker holds every one in its workflow cache, then reads VmRSS from /proc/<pid>/status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timingPolicy } from '../src/config/env';
import { startLinkSession } from '../src/temporal/startLinkSession';
import { startPostgres, type ThrowawayPostgres } from './postgres';
import type { BenchStack } from './stack';
import { mapLimit, median, progress, sleep, until } from './util';

export type RssVariant = 'shipped' | 'proposed';

export interface RssResult {
  sessions: number;
  variant: RssVariant;
  /** What differs from `npm run worker` (nothing for `shipped`). */
  changes: string[];
  database: string;
  idle_rss_mb: number;
  rss_mb: number;
  rss_max_mb: number;
  per_session_kb: number;
  heap_used_mb: number;
  cached_workflows: number;
  start_seconds: number;
}

interface Status {
  state: string;
  cached: number;
  activations: number;
  activities: number;
  rss: number;
  heap_used: number;
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

export async function benchWorkerRss(
  stack: BenchStack,
  opts: { sessions: number; variant: RssVariant; bundlePath?: string },
): Promise<RssResult> {
  const proposed = opts.variant === 'proposed';
  const changes = proposed
    ? [
        'workflow bundle built beforehand (no webpack in the worker)',
        'PGlite driver not imported (lazy import in src/store/open.ts)',
        'MALLOC_ARENA_MAX=2',
      ]
    : [];
  const dataDir = await mkdtemp(join(tmpdir(), 'linkflow-bench-worker-'));
  tempDirs.add(dataDir);
  let pg: ThrowawayPostgres | null = null;
  let child: ChildProcess | null = null;
  try {
    pg = await startPostgres();
    if (!pg) {
      if (proposed) throw new Error('the proposed variant needs PostgreSQL server binaries');
      progress('rss: no PostgreSQL server binaries: the worker uses PGlite (RSS includes it)');
    }
    if (proposed && !opts.bundlePath) throw new Error('the proposed variant needs a prebuilt bundle');
    const taskQueue = `bench-rss-${randomUUID()}`;
    const entry = fileURLToPath(new URL('./worker.ts', import.meta.url));
    // Only what the worker needs; nothing else from the caller's environment.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      TEMPORAL_ADDRESS: stack.devServer.address,
      TEMPORAL_NAMESPACE: stack.namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LINKFLOW_DATA_DIR: dataDir,
      PLAID_BASE_URL: stack.emulator.url,
      LINKFLOW_API_KEY: stack.apiKey,
      LINKFLOW_ENCRYPTION_KEY: stack.encryptionKey,
      LOG_LEVEL: 'warn',
      ...(pg && { DATABASE_URL: pg.url }),
      ...(proposed && {
        BENCH_WORKFLOW_BUNDLE: opts.bundlePath,
        BENCH_NO_PGLITE: '1',
        MALLOC_ARENA_MAX: '2',
      }),
    };
    const started = Date.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
      env,
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    children.add(proc);
    proc.once('exit', () => children.delete(proc));
    let last: Status | null = null;
    let buffer = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          last = JSON.parse(line) as Status;
        } catch {
          // not a status line
        }
        nl = buffer.indexOf('\n');
      }
    });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const pid = proc.pid;
    if (pid === undefined) throw new Error('could not start the worker process');

    await until(
      'the worker process to run',
      () => {
        if (proc.exitCode !== null) throw new Error(`worker process exited ${proc.exitCode}: ${stderr}`);
        return (last as Status | null)?.state === 'RUNNING' ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const startSeconds = (Date.now() - started) / 1000;
    await sleep(1000);
    const idle = vmRssMb(pid);
    progress(
      `rss (${opts.variant}): worker up in ${startSeconds.toFixed(1)} s, idle VmRSS ${mb(idle)} MB; opening ${opts.sessions} sessions`,
    );

    const timing = timingPolicy(stack.env);
    const expiration = new Date(Date.now() + 4 * 3_600_000).toISOString();
    await mapLimit(
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
    await until(
      `the worker to cache ${opts.sessions} workflows`,
      () => {
        if (proc.exitCode !== null) throw new Error(`worker process exited ${proc.exitCode}: ${stderr}`);
        const s = last as Status | null;
        return s && s.cached >= opts.sessions && s.activations === 0 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    await sleep(1000);
    const samples: number[] = [];
    for (let i = 0; i < 6; i++) {
      samples.push(vmRssMb(pid));
      await sleep(500);
    }
    const status = last as Status | null;
    const rss = median(samples);
    return {
      sessions: opts.sessions,
      variant: opts.variant,
      changes,
      database: pg ? 'PostgreSQL (throwaway)' : 'PGlite (no PostgreSQL binaries)',
      idle_rss_mb: mb(idle),
      rss_mb: mb(rss),
      rss_max_mb: mb(Math.max(...samples)),
      per_session_kb: Math.round(((rss - idle) * 1024) / opts.sessions),
      heap_used_mb: mb((status?.heap_used ?? 0) / 1024 / 1024),
      cached_workflows: status?.cached ?? 0,
      start_seconds: Math.round(startSeconds * 10) / 10,
    };
  } finally {
    if (child) await stopChild(child);
    if (pg) await pg.stop();
    await rm(dataDir, { recursive: true, force: true });
    tempDirs.delete(dataDir);
  }
}
