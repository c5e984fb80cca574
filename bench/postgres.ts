/**
 * A throwaway PostgreSQL server for the separate worker process, started like
 * `test/setup/postgres.ts` does: the machine's binaries, a temp directory, a free loopback port,
 * fsync off. Returns null when PostgreSQL's server binaries are not installed.
 *
 * Stopping signals the postmaster itself (its pid from postmaster.pid) and waits for it to exit:
 * `runuser` may exit before the server it started, which would leave the server running.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, sleep } from './util';

export interface ThrowawayPostgres {
  url: string;
  stop(): Promise<void>;
  /** Last resort on process exit: SIGKILL whatever is left, synchronously. */
  killNow(): void;
}

/** Servers not stopped yet, so the benchmark can stop them if it is interrupted. */
export const runningPostgres = new Set<ThrowawayPostgres>();

function findBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** PostgreSQL refuses to run as root: run its programs as the `postgres` user then. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function postmasterPid(data: string): number | null {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

export async function startPostgres(): Promise<ThrowawayPostgres | null> {
  const bin = findBinDir();
  if (!bin) return null;
  const dir = await mkdtemp(join(tmpdir(), 'linkflow-bench-pg-'));
  const data = join(dir, 'data');
  let child: ChildProcess | undefined;
  let serverPid: number | null = null;
  let stopped: Promise<void> | null = null;

  const killNow = () => {
    for (const pid of [serverPid ?? postmasterPid(data), child?.pid]) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = () => {
    stopped ??= (async () => {
      const pid = serverPid ?? postmasterPid(data);
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGINT'); // fast shutdown
        const until = Date.now() + 15_000;
        while (alive(pid) && Date.now() < until) await sleep(50);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      runningPostgres.delete(server);
    })();
    return stopped;
  };
  const server: ThrowawayPostgres = { url: '', stop, killNow };
  runningPostgres.add(server);
  try {
    await chmod(dir, 0o777);
    const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
    ]);
    execFileSync(initCmd, initArgs, { stdio: 'ignore', timeout: 60_000 });
    const port = await freePort();
    const [cmd, args] = asPostgres(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    child = spawn(cmd, args, { stdio: 'ignore' });
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.end();
        break;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline || child.exitCode !== null) throw err;
        await sleep(100);
      }
    }
    serverPid = postmasterPid(data);
    server.url = url;
    return server;
  } catch (err) {
    await stop();
    throw err;
  }
}
