/**
 * The database seam: one SQL dialect (PostgreSQL), two drivers — `pg` against a real server when
 * `databaseUrl` is given, embedded PGlite otherwise. Both return rows with the same JS types:
 * int8 as number, timestamptz as Date, jsonb parsed, text[] as string[].
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Db {
  readonly kind: 'postgres' | 'pglite';
  /** One statement, `$1`-style parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** A script of several statements, without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in a transaction: COMMIT when it resolves, ROLLBACK when it throws. Use only the
   * `tx` handle inside; `tx.transaction` nests as a SAVEPOINT.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; when set, PGlite is not used. */
  databaseUrl?: string;
  /** PGlite data directory; omitted → in-memory. Ignored with `databaseUrl`. */
  dataDir?: string;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** `pg` pool size (default 10). */
  maxConnections?: number;
  /** Bounds on every wait for the database (defaults: DEFAULT_DB_WAITS). */
  waits?: Partial<DbWaits>;
}

/**
 * Every wait for the database is bounded, so an activity never hangs on it past its own timeouts:
 * a wait that expires is a StoreTimeoutError (retryable) saying what was waited for.
 */
export interface DbWaits {
  /** `pg`: getting a pooled connection (pool exhausted or server unreachable). */
  connectMs: number;
  /** `pg`: server-side `statement_timeout`, including lock waits inside a statement. */
  statementMs: number;
  /** `pg`: client-side `query_timeout`, for a server that stops answering (above statementMs). */
  queryMs: number;
  /** PGlite: waiting for its single connection, held by one statement or transaction at a time. */
  lockMs: number;
}

export const DEFAULT_DB_WAITS: DbWaits = {
  connectMs: 5_000,
  statementMs: 15_000,
  queryMs: 20_000,
  lockMs: 15_000,
};

/** Where a query ran: tracks "inside a transaction of this Db" to catch queries that bypass `tx`. */
interface TxScope {
  owner: object;
  active: boolean;
}
const scope = new AsyncLocalStorage<TxScope>();

/**
 * Using the outer Db inside its own transaction callback is a bug on both drivers: on PGlite it
 * deadlocks (single connection), on PostgreSQL it silently runs outside the transaction.
 */
export function assertNotInsideOwnTransaction(owner: object): void {
  const current = scope.getStore();
  if (current?.active && current.owner === owner) {
    throw new Error(
      'Db used inside its own transaction callback: use the `tx` handle passed to the callback',
    );
  }
}

/** Runs `fn` marked as inside a transaction of `owner`; the mark ends when `fn` settles. */
export async function withinTransactionOf<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const marker: TxScope = { owner, active: true };
  try {
    return await scope.run(marker, fn);
  } finally {
    marker.active = false;
  }
}

/** A connection-bound handle for the duration of one transaction. */
export class TransactionHandle implements Db {
  #finished = false;
  #savepoints = 0;

  constructor(
    readonly kind: Db['kind'],
    private readonly run: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>,
    private readonly script: (sql: string) => Promise<void>,
  ) {}

  finish(): void {
    this.#finished = true;
  }

  #check(): void {
    if (this.#finished) throw new Error('transaction handle used after its transaction ended');
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    this.#check();
    return (await this.run(sql, params)) as R[];
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    await this.script(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    this.#check();
    const name = `lf_sp_${++this.#savepoints}`;
    await this.run(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      await this.run(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.run(`ROLLBACK TO SAVEPOINT ${name}`);
      throw err;
    }
  }

  async close(): Promise<void> {
    throw new Error('close() called on a transaction handle; close the Db instead');
  }
}
