import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, loadMigrations, migrate, openDatabase } from '../../src/store';
import { type DriverCase, drivers, type Target } from './drivers';

describe.each(drivers)('database driver: $name', (driver: DriverCase) => {
  let target: Target;
  let db: Db;

  beforeAll(async () => {
    target = await driver.createTarget();
    db = await target.open();
    await db.exec('CREATE TABLE scratch (k text PRIMARY KEY, v integer NOT NULL)');
  });
  afterAll(async () => {
    await db?.close();
    await target?.dispose();
  });

  it('reports its kind and returns int8 and timestamptz with the same JS types', async () => {
    expect(db.kind).toBe(driver.name);
    const [row] = await db.query<{ n: unknown; t: unknown; j: unknown; a: unknown }>(
      `SELECT count(*) AS n, now() AS t, '{"x":1}'::jsonb AS j, ARRAY['a','b']::text[] AS a`,
    );
    expect(row).toEqual({ n: 1, t: expect.any(Date), j: { x: 1 }, a: ['a', 'b'] });
  });

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO scratch (k, v) VALUES ($1, $2)', ['committed', 1]);
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO scratch (k, v) VALUES ($1, $2)', ['rolled-back', 1]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await db.query<{ k: string }>(
      "SELECT k FROM scratch WHERE k IN ('committed', 'rolled-back') ORDER BY k",
    );
    expect(rows.map((r) => r.k)).toEqual(['committed']);
  });

  it('nests tx.transaction as a savepoint: the inner failure is undone, the outer work kept', async () => {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO scratch (k, v) VALUES ($1, $2)', ['outer', 1]);
      await expect(
        tx.transaction(async (inner) => {
          await inner.query('INSERT INTO scratch (k, v) VALUES ($1, $2)', ['inner', 1]);
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
    });
    const rows = await db.query<{ k: string }>("SELECT k FROM scratch WHERE k IN ('outer', 'inner')");
    expect(rows.map((r) => r.k)).toEqual(['outer']);
  });

  it('refuses the outer Db inside its own transaction instead of deadlocking or escaping it', async () => {
    await expect(
      db.transaction(async () => {
        await db.query('SELECT 1');
      }),
    ).rejects.toThrow(/use the `tx` handle/);
    // Once the transaction is over the Db is usable again, even from a callback it scheduled.
    let later: Promise<unknown> = Promise.resolve();
    await db.transaction(async () => {
      later = new Promise((resolve) => setImmediate(resolve)).then(() => db.query('SELECT 1 AS one'));
    });
    await expect(later).resolves.toEqual([{ one: 1 }]);
  });

  it('refuses a transaction handle used after its transaction ended', async () => {
    let leaked: Db | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked?.query('SELECT 1')).rejects.toThrow(/after its transaction ended/);
  });

  it('keeps concurrent read-modify-write transactions from losing updates', async () => {
    await db.query("INSERT INTO scratch (k, v) VALUES ('counter', 0)");
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const [row] = await tx.query<{ v: number }>("SELECT v FROM scratch WHERE k = 'counter' FOR UPDATE");
          await tx.query("UPDATE scratch SET v = $1 WHERE k = 'counter'", [(row?.v ?? 0) + 1]);
        }),
      ),
    );
    const [row] = await db.query<{ v: number }>("SELECT v FROM scratch WHERE k = 'counter'");
    expect(row?.v).toBe(20);
  });
});

describe.each(drivers)('migrations: $name', (driver: DriverCase) => {
  let target: Target;
  beforeAll(async () => {
    target = await driver.createTarget();
  });
  afterAll(async () => {
    await target?.dispose();
  });

  it('applies each migration once, however many callers migrate at the same time', async () => {
    const files = await loadMigrations();
    expect(files.map((m) => m.version)[0]).toBe('001');
    const db = await target.open({ migrate: false });
    try {
      const results = await Promise.all([migrate(db), migrate(db), migrate(db)]);
      expect(results.flatMap((r) => r.applied).sort()).toEqual(files.map((m) => m.version));
      const rows = await db.query<{ version: string }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.version)).toEqual(files.map((m) => m.version));
    } finally {
      await db.close();
    }
  });

  it('opens an existing database again without reapplying anything, and keeps its data', async () => {
    const first = await target.open();
    await first.query("INSERT INTO users (client_user_id, user_id) VALUES ('persisted', 'u-1')");
    await first.close();

    const second = await target.open();
    try {
      expect((await migrate(second)).applied).toEqual([]);
      expect(await second.query("SELECT user_id FROM users WHERE client_user_id = 'persisted'")).toEqual([
        { user_id: 'u-1' },
      ]);
    } finally {
      await second.close();
    }
  });

  it('refuses to run when an applied migration file was edited', async () => {
    const db = await target.open();
    try {
      const [m] = await loadMigrations();
      if (!m) throw new Error('no migrations');
      const edited = { ...m, sql: `${m.sql}\n-- edited`, checksum: 'f'.repeat(64) };
      await expect(migrate(db, [edited])).rejects.toThrow(/changed after it was applied/);
    } finally {
      await db.close();
    }
  });

  it('does not leave a half-applied migration behind when one fails', async () => {
    const db = await target.open();
    try {
      const broken = {
        version: '999',
        name: 'broken',
        sql: 'CREATE TABLE half_applied (x int);\nSELECT no_such_function();',
        checksum: 'e'.repeat(64),
      };
      await expect(migrate(db, [broken])).rejects.toThrow(/no_such_function/);
      const tables = await db.query(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half_applied'",
      );
      expect(tables).toEqual([]);
      expect(await db.query("SELECT 1 FROM schema_migrations WHERE version = '999'")).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe('PGlite data directory', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linkflow-pglite-lock-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('can be open in one instance at a time, and again once that one is closed', async () => {
    const dataDir = join(dir, 'db');
    const first = await openDatabase({ dataDir });
    await expect(openDatabase({ dataDir })).rejects.toThrow(/already open in this process/);
    await first.close();
    const again = await openDatabase({ dataDir });
    expect(await again.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await again.close();
  });

  it('serialises transactions on its single connection: work outside waits for the open one', async () => {
    const db = await openDatabase({});
    try {
      await db.exec('CREATE TABLE t (v integer)');
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const tx = db.transaction(async (t) => {
        await t.query('INSERT INTO t VALUES (1)');
        entered();
        await gate;
        order.push('tx done');
      });
      await inside;
      const outside = db.query<{ n: number }>('SELECT count(*) AS n FROM t').then((rows) => {
        order.push('query done');
        return rows;
      });
      // Give the query every chance to run; it must still be waiting for the transaction.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(order).toEqual([]);
      release();
      await tx;
      // The query ran after the commit, so it sees the committed row.
      expect(await outside).toEqual([{ n: 1 }]);
      expect(order).toEqual(['tx done', 'query done']);
    } finally {
      await db.close();
    }
  });
});
