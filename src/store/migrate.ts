/**
 * Schema migrations: ordered `NNN_name.sql` files in `./migrations`, read at run time, applied
 * once each and recorded in `schema_migrations` with a checksum. Each migration runs in its own
 * transaction holding a transaction-scoped advisory lock, so processes migrating the same database
 * at once take turns and each migration is applied exactly once (PostgreSQL DDL is transactional).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../crypto/aesGcm';
import type { Db } from './db';

/** 'linkflow' in ASCII, as a signed 64-bit advisory-lock key. */
export const MIGRATION_LOCK_KEY = '7811887585212950391';

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  /** The numeric prefix, e.g. "001". */
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

const FILE_PATTERN = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;

export async function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match?.[1] || !match[2]) throw new Error(`migration file ${file}: expected NNN_name.sql`);
    const version = match[1];
    if (seen.has(version)) throw new Error(`two migrations share version ${version}`);
    seen.add(version);
    // Line endings normalised so a checkout with CRLF keeps the same checksum.
    const sql = (await readFile(join(dir, file), 'utf8')).replace(/\r\n/g, '\n');
    migrations.push({ version, name: match[2], sql, checksum: sha256Hex(sql) });
  }
  return migrations;
}

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    text PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

async function lock(tx: Db): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
}

/** Applies pending migrations in order; returns the versions applied by this call. */
export async function migrate(db: Db, migrations?: Migration[]): Promise<{ applied: string[] }> {
  const list = migrations ?? (await loadMigrations());
  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.exec(CREATE_TABLE);
  });
  const applied: string[] = [];
  for (const m of list) {
    const didApply = await db.transaction(async (tx) => {
      await lock(tx);
      const [row] = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations WHERE version = $1',
        [m.version],
      );
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new Error(
            `migration ${m.version}_${m.name}.sql changed after it was applied to this database; ` +
              'add a new migration instead (or, for a throwaway dev database, delete it)',
          );
        }
        return false;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        m.checksum,
      ]);
      return true;
    });
    if (didApply) applied.push(m.version);
  }
  return { applied };
}
