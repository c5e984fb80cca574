/**
 * `npm run bench -- --cluster`: session throughput on the production topology (`npm run cluster`
 * composed in this process: PostgreSQL, the Temporal server 1.29.1, 2 APIs, workers as their own
 * processes, the emulator). The same burst of sessions — created through both APIs, then every
 * user finishing Multi-Item Link at once (2 Items each) — runs with 2 workers, then with 1 (the
 * other stopped), and the figure is completed sessions per second from the first finish to the
 * last session completed. Absolute numbers are for this machine kind; the 2-vs-1 ratio says
 * whether the workers were the bottleneck.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClusterEnv } from '../src/cluster/config';
import { createCluster } from '../src/cluster/index';
import { temporalPorts } from '../src/cluster/temporal';
import { loadEnv } from '../src/config/env';
import { freePort } from '../test/helpers/freePort';
import { mapLimit, median, progress, round, sleep } from './util';

const INSTITUTIONS = ['ins_109508', 'ins_109509'];

export interface ClusterBenchResult {
  startup_s: number;
  sessions_per_burst: number;
  reps: number;
  two_workers_sessions_per_s: number[];
  one_worker_sessions_per_s: number[];
  /** median(2 workers) / median(1 worker). */
  two_vs_one: number;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

async function freeBlock(ports: (base: number) => number[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    if ((await Promise.all(ports(base).map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports');
}

export async function benchCluster(opts: { sessions: number; reps: number }): Promise<ClusterBenchResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'linkflow-bench-cluster-'));
  await chmod(dataDir, 0o755); // PostgreSQL runs as `postgres` under root
  const temporalPort = await freeBlock((base) => Object.values(temporalPorts(base)).flat());
  const apiPort = await freeBlock((base) => [base, base + 1]);
  const overrides = {
    LINKFLOW_DATA_DIR: dataDir,
    PORT: String(apiPort),
    PLAID_EMULATOR_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_TEMPORAL_PORT: String(temporalPort),
    LINKFLOW_CLUSTER_UI_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_POSTGRES_PORT: String(await freePort()),
    LINKFLOW_CLUSTER_WORKERS: '2',
    LINKFLOW_CLUSTER_APIS: '2',
  };
  Object.assign(process.env, overrides);
  const cluster = createCluster(loadEnv(), loadClusterEnv(), {
    log: (line) => progress(`  cluster: ${line}`),
  });
  try {
    const info = await cluster.start();
    const { apis, emulator, api_key: apiKey } = info.json;
    progress(`cluster up in ${round(info.timings.totalS)} s`);
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };

    let burstNo = 0;
    async function burst(n: number): Promise<number> {
      const user = `bench-cluster-${++burstNo}-${Date.now()}`;
      const ids = await mapLimit(
        Array.from({ length: n }, (_, i) => i),
        8,
        async (i) => {
          const res = await fetch(`${apis[i % apis.length]}/link/sessions`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ client_user_id: user }),
          });
          if (res.status !== 201) throw new Error(`POST /link/sessions: ${res.status} ${await res.text()}`);
          return ((await res.json()) as { session_id: string }).session_id;
        },
      );
      const started = Date.now();
      await mapLimit(ids, 16, async (linkToken) => {
        const res = await fetch(`${emulator}/__emulator/link/complete`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ link_token: linkToken, institutions: INSTITUTIONS }),
        });
        if (res.status !== 200) throw new Error(`link/complete: ${res.status} ${await res.text()}`);
      });
      const deadline = Date.now() + 300_000;
      for (;;) {
        const res = await fetch(`${apis[0]}/link/sessions?client_user_id=${user}`, { headers });
        const body = (await res.json()) as { sessions?: Array<{ status: string }> };
        const sessions = body.sessions ?? [];
        if (sessions.length === n && sessions.every((s) => s.status === 'completed')) break;
        if (Date.now() > deadline) {
          throw new Error(
            `burst ${burstNo}: sessions did not complete (last answer ${res.status} ${JSON.stringify(body).slice(0, 300)})`,
          );
        }
        await sleep(100);
      }
      return n / ((Date.now() - started) / 1000);
    }

    await burst(5); // warm-up: sticky caches, connection pools, JIT
    const two: number[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      two.push(round(await burst(opts.sessions), 2));
      progress(`  2 workers: ${two.at(-1)} sessions/s`);
    }
    await info.workers[1]?.stop();
    const one: number[] = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      one.push(round(await burst(opts.sessions), 2));
      progress(`  1 worker: ${one.at(-1)} sessions/s`);
    }
    return {
      startup_s: round(info.timings.totalS),
      sessions_per_burst: opts.sessions,
      reps: opts.reps,
      two_workers_sessions_per_s: two,
      one_worker_sessions_per_s: one,
      two_vs_one: round(median(two) / median(one), 2),
    };
  } finally {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
