/** The PostgreSQL driver: a `pg` Pool; each transaction holds one pooled connection. */
import pg from 'pg';
import {
  assertNotInsideOwnTransaction,
  type Db,
  type DbWaits,
  DEFAULT_DB_WAITS,
  TransactionHandle,
  withinTransactionOf,
} from './db';
import { StoreTimeoutError } from './errors';

const INT8_OID = 20;

export interface PostgresOptions {
  maxConnections?: number;
  /** Errors of idle pooled connections (server restart, network); default: written to stderr. */
  onIdleError?: (err: Error) => void;
  /** Bounds on connection, statement and query waits (defaults: DEFAULT_DB_WAITS). */
  waits?: Partial<DbWaits>;
}

/** SQLSTATE query_canceled: what statement_timeout raises. */
const QUERY_CANCELED = '57014';

export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #waits: DbWaits;

  constructor(connectionString: string, opts: PostgresOptions = {}) {
    const types = new pg.TypeOverrides();
    // Same as PGlite: int8 (count(*), bigint columns) as a JS number.
    types.setTypeParser(INT8_OID, (v: string) => Number(v));
    this.#waits = { ...DEFAULT_DB_WAITS, ...opts.waits };
    this.#pool = new pg.Pool({
      connectionString,
      max: opts.maxConnections ?? 10,
      types,
      connectionTimeoutMillis: this.#waits.connectMs,
      statement_timeout: this.#waits.statementMs,
      query_timeout: this.#waits.queryMs,
    });
    // Without a listener an idle connection's error would crash the process; the pool replaces it.
    const onIdleError =
      opts.onIdleError ?? ((err: Error) => process.stderr.write(`postgres pool: ${err.message}\n`));
    this.#pool.on('error', onIdleError);
  }

  /** A bounded wait that expired, as a StoreTimeoutError saying which; other errors unchanged. */
  #explain(err: unknown): unknown {
    const e = err as { code?: string; message?: string } | null;
    const message = e?.message ?? '';
    const w = this.#waits;
    if (/timeout exceeded when trying to connect|due to connection timeout/i.test(message)) {
      return new StoreTimeoutError(
        'DB_CONNECT_TIMEOUT',
        `no PostgreSQL connection within ${w.connectMs} ms (server unreachable or all pooled connections busy); nothing was written`,
        { cause: err },
      );
    }
    if (/query read timeout/i.test(message)) {
      return new StoreTimeoutError(
        'DB_QUERY_TIMEOUT',
        `PostgreSQL did not answer a query within ${w.queryMs} ms; whether it was applied is unknown until read back`,
        { cause: err },
      );
    }
    if (e?.code === QUERY_CANCELED && /statement timeout/i.test(message)) {
      return new StoreTimeoutError(
        'DB_STATEMENT_TIMEOUT',
        `a PostgreSQL statement ran (or waited for a lock) longer than statement_timeout ${w.statementMs} ms and was cancelled`,
        { cause: err },
      );
    }
    return err;
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    assertNotInsideOwnTransaction(this);
    try {
      const result = await this.#pool.query(sql, params);
      return result.rows as R[];
    } catch (err) {
      throw this.#explain(err);
    }
  }

  async exec(sql: string): Promise<void> {
    assertNotInsideOwnTransaction(this);
    try {
      await this.#pool.query(sql);
    } catch (err) {
      throw this.#explain(err);
    }
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#explain(err);
    }
    // pg-pool listens for errors on idle clients only: a connection dropped while we hold it would
    // be an unhandled 'error' that kills the process (with an unsaved access token in memory).
    // The pending query rejects anyway; remember the error and destroy the client on release.
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    const tx = new TransactionHandle(
      'postgres',
      async (sql, params) => (await client.query(sql, params)).rows,
      async (sql) => {
        await client.query(sql);
      },
    );
    try {
      await client.query('BEGIN');
      const result = await withinTransactionOf(this, () => fn(tx));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection is unusable: destroy it rather than return it to the pool.
        broken = rollbackErr as Error;
      }
      throw this.#explain(err);
    } finally {
      tx.finish();
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
