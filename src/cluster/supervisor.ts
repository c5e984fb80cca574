/**
 * The cluster's processes, supervised the way the compose file's `restart: unless-stopped` does:
 * each is a child process whose output goes to its own log file; one that exits while the cluster
 * is not stopping is started again (after 1 s, doubling to 10 s while it keeps failing fast), so a
 * SIGKILLed worker or Temporal server comes back like a container would. Stopping sends SIGTERM
 * and, after the process's grace time, SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** How long SIGTERM may take before SIGKILL (the worker: its shutdown grace time and more). */
  stopGraceMs?: number;
  /** The signal that asks it to stop (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
  /** Run as this uid/gid (PostgreSQL refuses to run as root). */
  user?: { uid: number; gid: number };
  /** Restart when it exits on its own (default true). */
  restart?: boolean;
}

export interface SupervisedProcess {
  readonly name: string;
  /** The pid of the current incarnation (it changes on a restart). */
  pid(): number | undefined;
  /** How many times it was started (1 + restarts). */
  starts(): number;
  /** Resolves when the current incarnation exits. */
  exited(): Promise<void>;
  /** Resolves once a new incarnation runs after the one with `pid` died. */
  restartedAfter(pid: number): Promise<number>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Children run in their own process groups, so nothing else stops them if the cluster process
 * dies without stopping them (an uncaught error): as a last resort they are SIGKILLed on exit.
 */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL');
});

export function supervise(
  spec: ProcessSpec,
  opts: { logDir: string; onEvent?: (line: string) => void; onStart?: (pid: number) => void },
): SupervisedProcess {
  const log: WriteStream = createWriteStream(join(opts.logDir, `${spec.name}.log`), { flags: 'a' });
  let child: ChildProcess | undefined;
  let exit: Promise<void> = Promise.resolve();
  let stopping = false;
  let starts = 0;
  let backoffMs = 1000;
  const waiters: Array<() => void> = [];

  const start = () => {
    starts += 1;
    const startedAt = Date.now();
    log.write(`--- start #${starts} ${new Date().toISOString()}: ${spec.command} ${spec.args.join(' ')}\n`);
    const proc = spawn(spec.command, spec.args, {
      env: spec.env,
      cwd: spec.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches only the cluster, which stops the
      // parts in order (APIs and workers before Temporal and PostgreSQL).
      detached: true,
      ...(spec.user ?? {}),
    });
    child = proc;
    live.add(proc);
    proc.stdout?.pipe(log, { end: false });
    proc.stderr?.pipe(log, { end: false });
    for (const notify of waiters.splice(0)) notify();
    if (proc.pid !== undefined) opts.onStart?.(proc.pid);
    exit = new Promise<void>((resolve) => {
      proc.once('error', (err) => {
        log.write(`--- spawn failed: ${err.message}\n`);
        resolve();
      });
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        log.write(`--- exited ${new Date().toISOString()}: code ${code} signal ${signal}\n`);
        resolve();
        if (stopping || spec.restart === false) return;
        opts.onEvent?.(`${spec.name} (pid ${proc.pid}) exited (${signal ?? `code ${code}`}); restarting`);
        // A process that ran a while is restarted promptly; one failing fast backs off.
        backoffMs = Date.now() - startedAt > 30_000 ? 1000 : Math.min(backoffMs * 2, 10_000);
        void sleep(backoffMs).then(() => {
          if (!stopping) start();
        });
      });
    });
  };
  start();

  return {
    name: spec.name,
    pid: () => child?.pid,
    starts: () => starts,
    exited: () => exit,
    async restartedAfter(pid: number) {
      for (;;) {
        const current = child;
        if (current && current.pid !== pid && current.exitCode === null && current.signalCode === null) {
          return current.pid as number;
        }
        if (stopping) throw new Error(`${spec.name} is stopping`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async stop() {
      stopping = true;
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill(spec.stopSignal ?? 'SIGTERM');
        const graceMs = spec.stopGraceMs ?? 15_000;
        const killed = await Promise.race([exit.then(() => false), sleep(graceMs).then(() => true)]);
        if (killed) {
          log.write(`--- no exit ${graceMs} ms after SIGTERM: SIGKILL\n`);
          proc.kill('SIGKILL');
          await exit;
        }
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
