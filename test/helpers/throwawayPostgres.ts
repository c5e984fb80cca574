/**
 * A throwaway PostgreSQL server from the machine's binaries (`.ci/run` installs Debian's
 * `postgresql`): a temp directory, a free loopback port, fsync off, trust auth. Used by the test
 * run's global setup (test/setup/postgres.ts) and by the benchmark's worker-memory phase.
 *
 * PostgreSQL refuses to run as root, so under root its programs run as the `postgres` user by
 * uid/gid on the child itself (not through `runuser`, which neither passes our shutdown signal on
 * nor outlives the server reliably). Stopping signals the postmaster (fast shutdown) and waits.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { postgresBinDir, postgresUser } from '../../src/cluster/postgres';
import { freePort } from './freePort';

export interface ThrowawayPostgres {
  url: string;
  stop(): Promise<void>;
  /** Last resort on process exit: SIGKILL the server, synchronously. */
  killNow(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a server, or returns null when PostgreSQL's server binaries are not installed. */
export async function startThrowawayPostgres(
  opts: { maxConnections?: number; prefix?: string } = {},
): Promise<ThrowawayPostgres | null> {
  const bin = postgresBinDir();
  if (!bin) return null;
  const dir = await mkdtemp(join(tmpdir(), opts.prefix ?? 'linkflow-pg-'));
  const data = join(dir, 'data');
  const user = postgresUser();
  let child: ChildProcess | undefined;
  let stopped: Promise<void> | null = null;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const killNow = () => {
    if (running()) child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = () => {
    stopped ??= (async () => {
      if (child && running()) {
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGINT'); // PostgreSQL's fast shutdown
        await Promise.race([exited, sleep(15_000)]);
        if (running()) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    await chmod(dir, 0o777);
    execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
      stdio: 'ignore',
      cwd: dir,
      timeout: 60_000,
      ...user,
    });
    const port = await freePort();
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'];
    args.push('-c', 'fsync=off', '-c', `max_connections=${opts.maxConnections ?? 100}`);
    child = spawn(join(bin, 'postgres'), args, { stdio: 'ignore', cwd: dir, ...user });
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
        if (Date.now() > deadline || !running()) throw err;
        await sleep(100);
      }
    }
    return { url, stop, killNow };
  } catch (err) {
    await stop();
    throw err;
  }
}
