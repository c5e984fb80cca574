/**
 * The embedded driver: PGlite (Postgres compiled to WASM) in-process. PGlite is one connection,
 * so a mutex serialises work: a transaction holds it from BEGIN to COMMIT, and queries outside
 * transactions wait for it. A data directory may be open in one PGlite instance only — two
 * instances (or processes) writing the same files corrupt them — so opening takes a lock file
 * `<dataDir>.lock` next to the directory.
 */
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import {
  assertNotInsideOwnTransaction,
  type Db,
  type DbWaits,
  DEFAULT_DB_WAITS,
  TransactionHandle,
  withinTransactionOf,
} from './db';
import { StoreTimeoutError } from './errors';
import { Mutex } from './mutex';

const openInThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireDirLock(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const lockPath = `${dir}.lock`;
  if (openInThisProcess.has(dir)) {
    throw new Error(`PGlite data directory ${dir} is already open in this process; share one Db`);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `PGlite data directory ${dir} is in use by process ${holder} (lock ${lockPath}). PGlite is ` +
            'single-process: run the worker and the API in one process, or set DATABASE_URL. If that process ' +
            'is not linkflow, delete the lock file.',
        );
      }
      // Stale lock of a process that is gone: take it over.
      await unlink(lockPath).catch(() => undefined);
    }
  }
  openInThisProcess.add(dir);
  return async () => {
    openInThisProcess.delete(dir);
    await unlink(lockPath).catch(() => undefined);
  };
}

export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  readonly #mutex = new Mutex();
  #closed = false;
  readonly #wait: { ms: number; onTimeout: () => Error };

  private constructor(
    private readonly pg: PGlite,
    private readonly release: () => Promise<void>,
    lockMs: number,
  ) {
    this.#wait = {
      ms: lockMs,
      onTimeout: () =>
        new StoreTimeoutError(
          'DB_LOCK_TIMEOUT',
          `waited ${lockMs} ms for the embedded database (PGlite runs one statement or transaction at a time and another held it that long); nothing was written`,
        ),
    };
  }

  static async open(dataDir?: string, opts: { waits?: Partial<DbWaits> } = {}): Promise<PgliteDb> {
    const lockMs = opts.waits?.lockMs ?? DEFAULT_DB_WAITS.lockMs;
    // Imported here, not at the top: the WebAssembly PostgreSQL costs ~40 MB of RSS once loaded,
    // which a worker or API on real PostgreSQL should never pay (issue 9).
    const { PGlite } = await import('@electric-sql/pglite');
    if (dataDir === undefined) return new PgliteDb(await PGlite.create(), async () => undefined, lockMs);
    await mkdir(resolve(dataDir, '..'), { recursive: true });
    const release = await acquireDirLock(dataDir);
    try {
      return new PgliteDb(await PGlite.create({ dataDir: resolve(dataDir) }), release, lockMs);
    } catch (err) {
      await release();
      throw err;
    }
  }

  #guard(): void {
    if (this.#closed) throw new Error('database is closed');
    assertNotInsideOwnTransaction(this);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    this.#guard();
    return this.#mutex.run(async () => (await this.pg.query<R>(sql, params)).rows, this.#wait);
  }

  async exec(sql: string): Promise<void> {
    this.#guard();
    await this.#mutex.run(() => this.pg.exec(sql), this.#wait);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    this.#guard();
    return this.#mutex.run(
      () =>
        this.pg.transaction(async (ptx) => {
          const tx = new TransactionHandle(
            'pglite',
            async (sql, params) => (await ptx.query<Record<string, unknown>>(sql, params)).rows,
            async (sql) => {
              await ptx.exec(sql);
            },
          );
          try {
            return await withinTransactionOf(this, () => fn(tx));
          } finally {
            tx.finish();
          }
        }),
      this.#wait,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Let queued work finish, then close.
    await this.#mutex.run(async () => {
      try {
        await this.pg.close();
      } finally {
        await this.release();
      }
    });
  }
}
