/**
 * CPU counters from /proc (Linux): where the CPU time of a run went. Per thread of this process
 * (the main thread runs the API, the Temporal client and the worker's JS side; the load
 * generator has its own thread), the Temporal dev server (a child process), and everything else
 * on the machine (other people's work shares these cores too; a busy machine shows here).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // CLK_TCK is 100 on Linux

function ticksOf(statPath: string): number {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> index 11, 12 here
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function machineBusyTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {
      // thread gone
    }
  }
  return pids;
}

/** The dev server: our child process running `temporal server start-dev`. */
export function findDevServerPid(): number | null {
  for (const pid of childPids()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('start-dev')) return pid;
    } catch {
      // gone
    }
  }
  return null;
}

export interface CpuSnapshot {
  at: number;
  process: number;
  main: number;
  loadgen: number;
  devServer: number;
  machineBusy: number;
}

export function cpuSnapshot(loadgenTid: number | null, devServerPid: number | null): CpuSnapshot {
  return {
    at: performance.now(),
    process: ticksOf('/proc/self/stat'),
    main: ticksOf(`/proc/self/task/${process.pid}/stat`),
    loadgen: loadgenTid ? ticksOf(`/proc/self/task/${loadgenTid}/stat`) : 0,
    devServer: devServerPid ? ticksOf(`/proc/${devServerPid}/stat`) : 0,
    machineBusy: machineBusyTicks().busy,
  };
}

export interface CpuUse {
  /** Cores busy on average during the run. */
  main_thread_cores: number;
  loadgen_thread_cores: number;
  other_threads_cores: number;
  dev_server_cores: number;
  /** Everything on the machine that is neither this process nor its dev server. */
  other_processes_cores: number;
  /** CPU milliseconds per request (webhook or signal) spent by this process (all threads but the load generator) and the dev server. */
  ours_ms_per_request: number;
  main_ms_per_request: number;
  dev_server_ms_per_request: number;
}

export function cpuUse(a: CpuSnapshot, b: CpuSnapshot, requests: number): CpuUse {
  const wallMs = b.at - a.at;
  const ms = (ticks: number) => ticks * TICK_MS;
  const cores = (ticks: number) => Math.round((ms(ticks) / wallMs) * 100) / 100;
  const main = b.main - a.main;
  const loadgen = b.loadgen - a.loadgen;
  const proc = b.process - a.process;
  const dev = b.devServer - a.devServer;
  const machine = b.machineBusy - a.machineBusy;
  const per = (ticks: number) =>
    requests > 0 ? Math.round((ms(ticks) / requests) * 1000) / 1000 : Number.NaN;
  return {
    main_thread_cores: cores(main),
    loadgen_thread_cores: cores(loadgen),
    other_threads_cores: cores(proc - main - loadgen),
    dev_server_cores: cores(dev),
    other_processes_cores: cores(Math.max(0, machine - proc - dev)),
    ours_ms_per_request: per(proc - loadgen),
    main_ms_per_request: per(main),
    dev_server_ms_per_request: per(dev),
  };
}
