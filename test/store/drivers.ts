/**
 * The drivers the store suites run against: PGlite always; PostgreSQL too when TEST_DATABASE_URL
 * is set. Each target is a fresh, empty database (a temp PGlite directory, or a new schema on the
 * PostgreSQL server selected through search_path) that can be opened any number of times.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, DbWaits } from '../../src/store';
import { openDatabase } from '../../src/store';
import { PostgresDb } from '../../src/store/postgres';

export interface Target {
  open(opts?: { migrate?: boolean; waits?: Partial<DbWaits>; maxConnections?: number }): Promise<Db>;
  dispose(): Promise<void>;
}

export interface DriverCase {
  name: 'pglite' | 'postgres';
  createTarget(): Promise<Target>;
}

const pglite: DriverCase = {
  name: 'pglite',
  async createTarget() {
    const dir = await mkdtemp(join(tmpdir(), 'linkflow-store-'));
    return {
      open: (opts) =>
        openDatabase({ dataDir: join(dir, 'pglite'), migrate: opts?.migrate, waits: opts?.waits }),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

function postgres(url: string): DriverCase {
  return {
    name: 'postgres',
    async createTarget() {
      const schema = `linkflow_test_${randomBytes(6).toString('hex')}`;
      const admin = new PostgresDb(url);
      await admin.query(`CREATE SCHEMA ${schema}`);
      const scoped = new URL(url);
      scoped.searchParams.set('options', `-c search_path=${schema}`);
      return {
        open: (opts) =>
          openDatabase({
            databaseUrl: scoped.toString(),
            migrate: opts?.migrate,
            waits: opts?.waits,
            maxConnections: opts?.maxConnections,
          }),
        async dispose() {
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
          await admin.close();
        },
      };
    },
  };
}

const testDatabaseUrl = process.env.TEST_DATABASE_URL;

export const drivers: DriverCase[] = testDatabaseUrl ? [pglite, postgres(testDatabaseUrl)] : [pglite];

/** Every row of every table of the current schema, as text (to scan for leaked secrets). */
export async function dumpAllRows(db: Db): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const rows = await db.query<{ row: string }>(`SELECT t::text AS row FROM "${table_name}" t`);
    parts.push(`${table_name}: ${rows.map((r) => r.row).join('\n')}`);
  }
  return parts.join('\n');
}
