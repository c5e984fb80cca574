/** The PostgreSQL driver: a `pg` Pool; each transaction holds one pooled connection. */
import pg from 'pg';
import { assertNotInsideOwnTransaction, type Db, TransactionHandle, withinTransactionOf } from './db';

const INT8_OID = 20;

export interface PostgresOptions {
  maxConnections?: number;
  /** Errors of idle pooled connections (server restart, network); default: written to stderr. */
  onIdleError?: (err: Error) => void;
}

export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  constructor(connectionString: string, opts: PostgresOptions = {}) {
    const types = new pg.TypeOverrides();
    // Same as PGlite: int8 (count(*), bigint columns) as a JS number.
    types.setTypeParser(INT8_OID, (v: string) => Number(v));
    this.#pool = new pg.Pool({ connectionString, max: opts.maxConnections ?? 10, types });
    // Without a listener an idle connection's error would crash the process; the pool replaces it.
    const onIdleError =
      opts.onIdleError ?? ((err: Error) => process.stderr.write(`postgres pool: ${err.message}\n`));
    this.#pool.on('error', onIdleError);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
    assertNotInsideOwnTransaction(this);
    const result = await this.#pool.query(sql, params);
    return result.rows as R[];
  }

  async exec(sql: string): Promise<void> {
    assertNotInsideOwnTransaction(this);
    await this.#pool.query(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    assertNotInsideOwnTransaction(this);
    const client = await this.#pool.connect();
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
      throw err;
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
