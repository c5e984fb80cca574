/**
 * The exchange fence in the store (src/store/callLedger.ts) on both drivers: one lease holder at a
 * time, expired leases taken over, stale holders fenced out, abandoned calls put in doubt, and
 * every database wait bounded.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { sha256Hex } from '../../src/crypto/aesGcm';
import {
  type CallLedger,
  createCallLedgers,
  createItemStore,
  type Db,
  type ItemStore,
  LeaseLostError,
  type LeaseOutcome,
  StoreTimeoutError,
} from '../../src/store';
import { type DriverCase, drivers, type Target } from './drivers';

const uid = (prefix: string) => `${prefix}-${randomUUID()}`;
const TTL = 40_000;
/** A lease that is already over when granted: stands for "its holder stopped refreshing long ago". */
const EXPIRED = -1;

function acquired(outcome: LeaseOutcome) {
  if (outcome.kind !== 'acquired') throw new Error(`expected the lease, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** A promise and the function that settles it: holds a transaction open until the test says so. */
function gate() {
  let open: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { closed, open };
}

describe.each(drivers)('call ledger: $name', (driver: DriverCase) => {
  let target: Target;
  let db: Db;
  let store: ItemStore;
  let ledger: CallLedger<{ linkToken: string }>;

  beforeAll(async () => {
    target = await driver.createTarget();
    db = await target.open();
    store = createItemStore(db, createKeyring(generateKeyBase64()));
    ledger = store.exchangeLedger;
  });
  afterAll(async () => {
    await db?.close();
    await target?.dispose();
  });

  const fresh = () => ({ key: `public-sandbox-${randomUUID()}`, linkToken: uid('link') });

  it('while a holder has a call out, concurrent attempts are told who holds the lease', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    await ledger.callStarted({ key: token.key, generation: a.generation, mustOutliveMs: 25_000 });
    const others = await Promise.all([
      ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }),
      ledger.acquire({ ...token, owner: 'attempt-C', ttlMs: TTL }),
    ]);
    for (const o of others) expect(o).toMatchObject({ kind: 'held', owner: 'attempt-A' });
  });

  it('of two concurrent attempts on an idle intent exactly one may call Plaid: the later generation', async () => {
    const token = fresh();
    const [b, c] = (
      await Promise.all([
        ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }),
        ledger.acquire({ ...token, owner: 'attempt-C', ttlMs: TTL }),
      ])
    ).map(acquired);
    if (!b || !c) throw new Error('two outcomes expected');
    const starts = await Promise.allSettled(
      [b, c].map((l) =>
        ledger.callStarted({ key: token.key, generation: l.generation, mustOutliveMs: 25_000 }),
      ),
    );
    expect(starts.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = b.generation > c.generation ? 0 : 1;
    expect(starts[winner]?.status).toBe('fulfilled');
    expect((starts[1 - winner] as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError);
  });

  it('an expired lease is taken over with a new generation, and the stale holder is fenced out', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: EXPIRED }));
    const b = acquired(await ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }));
    expect(b.generation).toBe(a.generation + 1);
    expect(b.inDoubt).toBeNull();

    const stale = { key: token.key, generation: a.generation };
    expect(await ledger.refresh({ ...stale, ttlMs: TTL })).toBe(false);
    await expect(ledger.callStarted({ ...stale, mustOutliveMs: 0 })).rejects.toThrow(
      /no longer held: attempt attempt-B took it over/,
    );
    await expect(ledger.callEnded({ ...stale, inDoubtReason: null })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(ledger.settle({ ...stale, state: 'failed', error: { code: 'X' } })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    // A stale release leaves the new holder's lease alone.
    await ledger.callStarted({ key: token.key, generation: b.generation, mustOutliveMs: 25_000 });
    await ledger.release(stale);
    expect(await ledger.acquire({ ...token, owner: 'attempt-C', ttlMs: TTL })).toMatchObject({
      kind: 'held',
      owner: 'attempt-B',
    });
    // The holder's own writes go through.
    expect(await ledger.refresh({ key: token.key, generation: b.generation, ttlMs: TTL })).toBe(true);
    await ledger.settle({ key: token.key, generation: b.generation, state: 'failed', error: { code: 'X' } });
    expect(await ledger.acquire({ ...token, owner: 'attempt-D', ttlMs: TTL })).toMatchObject({
      kind: 'settled',
      state: 'failed',
      error: { code: 'X' },
    });
  });

  it('a released lease is free at once', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    await ledger.release({ key: token.key, generation: a.generation });
    acquired(await ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }));
  });

  it('a call mark its holder never cleared puts the next holder in doubt, naming that attempt', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    await ledger.callStarted({ key: token.key, generation: a.generation, mustOutliveMs: 25_000 });
    // attempt-A dies: its lease runs out without another refresh.
    expect(await ledger.refresh({ key: token.key, generation: a.generation, ttlMs: EXPIRED })).toBe(true);
    const b = acquired(await ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }));
    expect(b.inDoubt?.reason).toMatch(
      /^attempt attempt-A sent the request at .* and never recorded its answer/,
    );
    expect(Number.isNaN(Date.parse(b.inDoubt?.since ?? ''))).toBe(false);
  });

  it('a call that ended without reaching Plaid leaves no doubt; one whose answer was lost does, for every later holder', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    await ledger.callStarted({ key: token.key, generation: a.generation, mustOutliveMs: 0 });
    await ledger.callEnded({ key: token.key, generation: a.generation, inDoubtReason: null });
    await ledger.release({ key: token.key, generation: a.generation });
    const b = acquired(await ledger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL }));
    expect(b.inDoubt).toBeNull();

    await ledger.callStarted({ key: token.key, generation: b.generation, mustOutliveMs: 0 });
    await ledger.callEnded({ key: token.key, generation: b.generation, inDoubtReason: 'B lost the answer' });
    await ledger.release({ key: token.key, generation: b.generation });
    const c = acquired(await ledger.acquire({ ...token, owner: 'attempt-C', ttlMs: TTL }));
    expect(c.inDoubt?.reason).toBe('B lost the answer');
    // A later call that reaches nobody does not clear the doubt.
    await ledger.callStarted({ key: token.key, generation: c.generation, mustOutliveMs: 0 });
    await ledger.callEnded({ key: token.key, generation: c.generation, inDoubtReason: null });
    await ledger.release({ key: token.key, generation: c.generation });
    const d = acquired(await ledger.acquire({ ...token, owner: 'attempt-D', ttlMs: TTL }));
    expect(d.inDoubt?.reason).toBe('B lost the answer');
  });

  it('a call is only started while the lease outlives it', async () => {
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: 10_000 }));
    await expect(
      ledger.callStarted({ key: token.key, generation: a.generation, mustOutliveMs: 25_000 }),
    ).rejects.toThrow(/before calling Plaid: .*expired or was released/);
    await ledger.callStarted({ key: token.key, generation: a.generation, mustOutliveMs: 5_000 });
  });

  it('an intent recorded before the fence existed (legacy beginExchange) is in doubt', async () => {
    const token = fresh();
    await store.beginExchange({ publicToken: token.key, linkToken: token.linkToken });
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    expect(a.inDoubt?.reason).toMatch(/before the exchange fence/);
  });

  it('an unknown outcome is counted, and becomes exchanged when the access token is stored after all', async () => {
    const before = await store.outcomeUnknownCounts();
    const token = fresh();
    const a = acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
    await ledger.settle({
      key: token.key,
      generation: a.generation,
      state: 'unknown',
      error: { code: 'EXCHANGE_OUTCOME_UNKNOWN', message: 'lost' },
    });
    expect(await store.findExchange(token.key)).toMatchObject({ state: 'unknown', itemId: null });
    expect((await store.outcomeUnknownCounts()).exchanges).toBe(before.exchanges + 1);

    // A stale holder that did get the access token stores it: the Item wins over "unknown".
    const itemId = uid('item');
    await store.completeExchange({
      publicToken: token.key,
      linkToken: token.linkToken,
      clientUserId: uid('client'),
      userId: uid('user'),
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
    });
    expect(await store.findExchange(token.key)).toMatchObject({ state: 'exchanged', itemId });
    expect((await store.outcomeUnknownCounts()).exchanges).toBe(before.exchanges);
  });

  it('the processor-token ledger is keyed by the Link session', async () => {
    const linkToken = uid('link');
    const intent = { key: linkToken, itemId: uid('item'), accountId: uid('acc'), processor: 'dwolla' };
    const a = acquired(
      await store.processorTokenLedger.acquire({ ...intent, owner: 'attempt-A', ttlMs: TTL }),
    );
    await store.processorTokenLedger.callStarted({
      key: linkToken,
      generation: a.generation,
      mustOutliveMs: 0,
    });
    expect(
      await store.processorTokenLedger.acquire({ ...intent, owner: 'attempt-B', ttlMs: TTL }),
    ).toMatchObject({
      kind: 'held',
      owner: 'attempt-A',
    });
    const before = await store.outcomeUnknownCounts();
    await store.processorTokenLedger.settle({ key: linkToken, generation: a.generation, state: 'unknown' });
    expect((await store.outcomeUnknownCounts()).processorTokens).toBe(before.processorTokens + 1);
  });

  describe('bounded waits', () => {
    // Each driver has its own waits: only its own cases are generated (none skipped).
    if (driver.name === 'pglite')
      it('PGlite: waiting for its single connection gives up after lockMs, and the abandoned query never runs', async () => {
        const own = await driver.createTarget();
        const small = await own.open({ waits: { lockMs: 150 } });
        try {
          await small.query('CREATE TABLE probe (v text)');
          const held = gate();
          let inside: () => void = () => undefined;
          const entered = new Promise<void>((resolve) => {
            inside = resolve;
          });
          const tx = small.transaction(async () => {
            inside();
            await held.closed;
          });
          await entered;
          const err = await small.query("INSERT INTO probe VALUES ('late')").catch((e: unknown) => e);
          expect(err).toBeInstanceOf(StoreTimeoutError);
          expect(err).toMatchObject({ code: 'DB_LOCK_TIMEOUT', retryable: true });
          expect((err as Error).message).toMatch(/waited 150 ms for the embedded database/);
          held.open();
          await tx;
          expect(await small.query('SELECT v FROM probe')).toEqual([]);
        } finally {
          await small.close();
          await own.dispose();
        }
      });

    if (driver.name === 'postgres')
      it('PostgreSQL: a statement stuck behind a row lock is cancelled after statementMs, with what happened', async () => {
        const token = fresh();
        acquired(await ledger.acquire({ ...token, owner: 'attempt-A', ttlMs: TTL }));
        const impatient = await target.open({ migrate: false, waits: { statementMs: 200 } });
        const held = gate();
        let locked: () => void = () => undefined;
        const isLocked = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const tx = db.transaction(async (t) => {
          await t.query('SELECT 1 FROM exchange_intents WHERE public_token_sha256 = $1 FOR UPDATE', [
            sha256Hex(token.key),
          ]);
          locked();
          await held.closed;
        });
        try {
          await isLocked;
          const err = await createCallLedgers(impatient)
            .exchangeLedger.acquire({ ...token, owner: 'attempt-B', ttlMs: TTL })
            .catch((e: unknown) => e);
          expect(err).toBeInstanceOf(StoreTimeoutError);
          expect(err).toMatchObject({ code: 'DB_STATEMENT_TIMEOUT', retryable: true });
          expect((err as Error).message).toMatch(/statement_timeout 200 ms/);
        } finally {
          held.open();
          await tx;
          await impatient.close();
        }
      });

    if (driver.name === 'postgres')
      it('PostgreSQL: waiting for a pooled connection gives up after connectMs', async () => {
        const tiny = await target.open({ migrate: false, maxConnections: 1, waits: { connectMs: 200 } });
        const held = gate();
        let inside: () => void = () => undefined;
        const entered = new Promise<void>((resolve) => {
          inside = resolve;
        });
        const tx = tiny.transaction(async () => {
          inside();
          await held.closed;
        });
        try {
          await entered;
          const err = await tiny.query('SELECT 1').catch((e: unknown) => e);
          expect(err).toBeInstanceOf(StoreTimeoutError);
          expect(err).toMatchObject({ code: 'DB_CONNECT_TIMEOUT', retryable: true });
          expect((err as Error).message).toMatch(/no PostgreSQL connection within 200 ms/);
        } finally {
          held.open();
          await tx;
          await tiny.close();
        }
      });
  });
});
