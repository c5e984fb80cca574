/**
 * A throwaway PostgreSQL server for the whole test run, so the store runs on both drivers (PGlite
 * and real PostgreSQL through `pg`) from one `npm test`. Uses TEST_DATABASE_URL when given; else
 * starts the machine's PostgreSQL binaries (`.ci/run` installs Debian's `postgresql`) on a free
 * loopback port in a temp directory. Without binaries the PostgreSQL cases are left out, loudly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

function findBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * PostgreSQL refuses to run as root: run its programs as the `postgres` user then, by uid/gid on
 * the process itself (not through `runuser`, which would not pass our shutdown signal on).
 */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

async function connectable(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export default async function setup() {
  if (process.env.TEST_DATABASE_URL) return;
  const bin = findBinDir();
  if (!bin) {
    console.warn(
      'PostgreSQL server not installed: the store suites run on PGlite only (apt-get install postgresql).',
    );
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'linkflow-pg-'));
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  const user = postgresUser();
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
    stdio: 'ignore',
    cwd: dir,
    ...user,
  });
  const port = await freePort();
  const args = [
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
    '-c',
    'max_connections=200',
  ];
  const server = spawn(join(bin, 'postgres'), args, { stdio: 'ignore', cwd: dir, ...user });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await connectable(url, 30_000);
  process.env.TEST_DATABASE_URL = url;
  console.log(`PostgreSQL for tests on ${url}`);
  return async () => {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    // SIGINT is PostgreSQL's fast shutdown.
    server.kill('SIGINT');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
}
