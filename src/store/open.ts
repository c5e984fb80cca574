import type { Db, OpenDatabaseOptions } from './db';
import { migrate } from './migrate';
import { PgliteDb } from './pglite';
import { PostgresDb } from './postgres';

/**
 * Opens PostgreSQL when `databaseUrl` is set, else PGlite (in `dataDir`, or in memory), and
 * applies pending migrations unless `migrate: false`.
 */
export async function openDatabase(opts: OpenDatabaseOptions = {}): Promise<Db> {
  const db: Db = opts.databaseUrl
    ? new PostgresDb(opts.databaseUrl, { maxConnections: opts.maxConnections, waits: opts.waits })
    : await PgliteDb.open(opts.dataDir, { waits: opts.waits });
  if (opts.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }
  return db;
}
