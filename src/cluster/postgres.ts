/**
 * The cluster's PostgreSQL server, from the machine's binaries (Debian's `postgresql` package,
 * which `.ci/run` installs): its data dir lives under `LINKFLOW_DATA_DIR`, so a restart of the
 * cluster resumes; password authentication on loopback only; the roles and databases come from
 * deploy/postgres-init.sh, the script the compose file's postgres image runs.
 *
 * PostgreSQL refuses to run as root, so under root its programs run as the `postgres` user.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { type SupervisedProcess, supervise } from './supervisor';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Temporal (4 services x (8 + 2) = 40) + linkflow (10 per process, 4 processes by default) + the
 * superuser's and the SQL tool's few; 150 leaves room for a third worker.
 */
export const CLUSTER_MAX_CONNECTIONS = 150;

export interface ClusterPasswords {
  superuser: string;
  temporal: string;
  linkflow: string;
}

export interface ClusterPostgres {
  port: number;
  process: SupervisedProcess;
  /** `postgres://<role>:<password>@127.0.0.1:<port>/<db>` */
  url(role: 'postgres' | 'temporal' | 'linkflow', database: string): string;
  /** Connections open right now (all databases). */
  connections(): Promise<number>;
}

/** Where Debian's PostgreSQL server binaries are (the newest version), or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** As root, the server must run as the `postgres` user (initdb and postgres refuse root). */
export function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startClusterPostgres(opts: {
  dir: string;
  port: number;
  passwords: ClusterPasswords;
  logDir: string;
  deployDir: string;
  onEvent?: (line: string) => void;
  onStart?: (pid: number) => void;
}): Promise<ClusterPostgres> {
  const bin = postgresBinDir();
  if (!bin) {
    throw new Error(
      "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/postgres): apt-get install postgresql",
    );
  }
  const user = postgresUser();
  if (user) await requireTraversable(opts.dir);
  const data = join(opts.dir, 'data');
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  if (user) await chown(opts.dir, user.uid, user.gid);
  if (!existsSync(join(data, 'PG_VERSION'))) {
    const pwfile = join(opts.dir, 'superuser-password');
    await writeFile(pwfile, `${opts.passwords.superuser}\n`, { mode: 0o600 });
    if (user) await chown(pwfile, user.uid, user.gid);
    await run(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8'],
      { cwd: opts.dir, timeout: 120_000, ...user },
    );
  }
  const process = supervise(
    {
      name: 'postgresql',
      command: join(bin, 'postgres'),
      args: [
        '-D',
        data,
        '-p',
        String(opts.port),
        '-k',
        opts.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `max_connections=${CLUSTER_MAX_CONNECTIONS}`,
      ],
      env: { PATH: globalThis.process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      cwd: opts.dir,
      ...(user && { user }),
      // SIGINT is PostgreSQL's fast shutdown (SIGTERM's smart one waits for every client to
      // leave); the cluster stops it last, after everything that uses it.
      stopSignal: 'SIGINT',
      stopGraceMs: 30_000,
    },
    {
      logDir: opts.logDir,
      ...(opts.onEvent && { onEvent: opts.onEvent }),
      ...(opts.onStart && { onStart: opts.onStart }),
    },
  );
  const url = (role: 'postgres' | 'temporal' | 'linkflow', database: string) =>
    `postgres://${role}:${encodeURIComponent(opts.passwords[role === 'postgres' ? 'superuser' : role])}@127.0.0.1:${opts.port}/${database}`;

  await waitForPostgres(url('postgres', 'postgres'), 60_000);
  // Roles and databases: the compose file's init script, run with psql against this server.
  await run('sh', [join(opts.deployDir, 'postgres-init.sh')], {
    env: {
      ...globalThis.process.env,
      PGHOST: '127.0.0.1',
      PGPORT: String(opts.port),
      PGPASSWORD: opts.passwords.superuser,
      POSTGRES_USER: 'postgres',
      TEMPORAL_DB_PASSWORD: opts.passwords.temporal,
      LINKFLOW_DB_PASSWORD: opts.passwords.linkflow,
    },
    timeout: 60_000,
  });

  return {
    port: opts.port,
    process,
    url,
    async connections() {
      const client = new pg.Client({ connectionString: url('postgres', 'postgres') });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
        );
        return Number(rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    },
  };
}

/** Under root, PostgreSQL runs as `postgres`: every directory above its own must let others in. */
async function requireTraversable(dir: string): Promise<void> {
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    if (existsSync(parent) && ((await stat(parent)).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the postgres user and cannot reach ${dir}: ${parent} is not searchable by others (chmod o+x ${parent}), or set LINKFLOW_DATA_DIR elsewhere.`,
      );
    }
    if (parent === dirname(parent)) return;
  }
}

async function waitForPostgres(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections: ${String(err)}`);
      await sleep(200);
    }
  }
}
