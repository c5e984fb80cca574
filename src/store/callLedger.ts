/**
 * The call ledger: for a Plaid call that must happen at most once (`/item/public_token/exchange`
 * per public token, `/processor/token/create` per Link session), who may make it now and what is
 * known about earlier tries.
 *
 * - A **lease** (owner, expiry, generation) lets one attempt at a time talk to Plaid. Its holder
 *   refreshes it while it works; while it has a call out, a new attempt takes it over only once
 *   it has expired. Every write of a holder names its generation, so a stale holder's writes
 *   match no row (LeaseLostError) and it can no longer start a call.
 * - A **call mark** is written before the request is sent and cleared when its answer is
 *   recorded. A mark found by a later holder, or a request whose answer was lost, puts the
 *   intent **in doubt**: Plaid may have done the work. From then on only a success tells what
 *   happened; the caller records any other answer as the outcome `unknown`.
 *
 * Times are the database's (`now()`), so workers with skewed clocks agree on expiry.
 */
import { sha256Hex } from '../crypto/aesGcm';
import type { Db } from './db';
import { LeaseLostError } from './errors';

/** An earlier request that may have reached Plaid and whose answer never came. */
export interface InDoubt {
  /** When that request was sent (ISO). */
  since: string;
  reason: string;
}

export type LeaseOutcome =
  /** This attempt holds the lease; write with `generation`. */
  | { kind: 'acquired'; generation: number; expiresAt: string; inDoubt: InDoubt | null; attempts: number }
  /** Another attempt holds a live lease and is calling Plaid (or saving its answer). */
  | { kind: 'held'; owner: string; expiresAt: string }
  /** The intent is no longer pending: nothing left to call. */
  | { kind: 'settled'; state: string; error: unknown };

export interface CallLedger<Extra> {
  /** Takes the lease unless another attempt holds a live one with a call out; a call mark left
   * by an earlier holder becomes "in doubt" here. `extra` fills a new intent row. */
  acquire(i: { key: string; owner: string; ttlMs: number } & Extra): Promise<LeaseOutcome>;
  /** Pushes the expiry to now + ttl; false once the lease is no longer this generation's. */
  refresh(i: { key: string; generation: number; ttlMs: number }): Promise<boolean>;
  /**
   * Marks a request as about to be sent, only while the lease outlives `mustOutliveMs` (the
   * request's own timeout plus a margin): so a request always ends before anyone else may take
   * the lease, whether or not later refreshes get through. Throws LeaseLostError otherwise.
   */
  callStarted(i: { key: string; generation: number; mustOutliveMs: number }): Promise<void>;
  /** Clears the call mark; with `inDoubtReason` the request may have reached Plaid. */
  callEnded(i: { key: string; generation: number; inDoubtReason: string | null }): Promise<void>;
  /** Records a final state (and the error, if any) and ends the lease. */
  settle(i: { key: string; generation: number; state: string; error?: unknown }): Promise<void>;
  /** Ends the lease early (the attempt gives up; the next may start at once). Never throws on a lost lease. */
  release(i: { key: string; generation: number }): Promise<void>;
}

interface LedgerRow {
  state: string;
  error: unknown;
  attempts: number;
  lease_owner: string | null;
  lease_generation: number;
  lease_expires_at: Date | null;
  lease_live: boolean;
  call_owner: string | null;
  call_started_at: Date | null;
  in_doubt_since: Date | null;
  in_doubt_reason: string | null;
}

interface LedgerSpec<Extra> {
  table: string;
  keyColumn: string;
  /** What the intent is about, for messages ("exchange of this public token"). */
  what: string;
  /** The stored key of a caller's key (public tokens are stored only as their SHA-256). */
  toKey(key: string): string;
  /** Inserts the pending intent if missing. */
  insert(tx: Db, key: string, extra: Extra): Promise<void>;
}

const iso = (d: Date | null): string => (d instanceof Date ? d.toISOString() : String(d));
const TTL = `now() + ($3::bigint * interval '1 millisecond')`;

function ledger<Extra>(db: Db, spec: LedgerSpec<Extra>): CallLedger<Extra> {
  const { table, keyColumn: pk } = spec;

  async function lost(key: string, generation: number, doing: string): Promise<never> {
    const [row] = await db.query<{ lease_owner: string | null; lease_generation: number; state: string }>(
      `SELECT lease_owner, lease_generation, state FROM ${table} WHERE ${pk} = $1`,
      [key],
    );
    const now =
      row && row.lease_generation !== generation
        ? `attempt ${row.lease_owner ?? '(released)'} took it over (generation ${row.lease_generation})`
        : row && row.state !== 'pending'
          ? `the intent is already ${row.state}`
          : 'it expired or was released';
    throw new LeaseLostError(
      `${doing}: the lease on the ${spec.what} (generation ${generation}) is no longer held: ${now}`,
    );
  }

  return {
    async acquire(i) {
      const key = spec.toKey(i.key);
      return db.transaction(async (tx) => {
        await spec.insert(tx, key, i);
        const [row] = await tx.query<LedgerRow>(
          `SELECT state, error, attempts, lease_owner, lease_generation, lease_expires_at,
                  coalesce(lease_expires_at > now(), false) AS lease_live,
                  call_owner, call_started_at, in_doubt_since, in_doubt_reason
             FROM ${table} WHERE ${pk} = $1 FOR UPDATE`,
          [key],
        );
        if (!row) throw new Error(`${table}: intent ${key} vanished inside its transaction`);
        if (row.state !== 'pending') return { kind: 'settled', state: row.state, error: row.error };
        // A live lease blocks only while its holder has a call out (sending, or saving what
        // Plaid answered). An idle holder is overtaken: the new generation fences it out of
        // starting a call, so a holder that failed before calling Plaid (its release lost to a
        // database outage) does not hold every retry back for a whole TTL.
        if (row.lease_live && row.lease_owner !== i.owner && row.call_owner !== null) {
          return { kind: 'held', owner: row.lease_owner ?? '?', expiresAt: iso(row.lease_expires_at) };
        }
        // A call mark left behind: its holder sent the request and never recorded the answer
        // (killed, partitioned, lease expired). Plaid may have done the work.
        // An intent written before this ledger existed (attempts counted, never leased) is the
        // same: its attempt may have called Plaid.
        const abandoned =
          row.call_owner !== null
            ? `attempt ${row.call_owner} sent the request at ${iso(row.call_started_at)} and never recorded its answer (its lease ended ${iso(row.lease_expires_at)})`
            : row.lease_generation === 0 && row.attempts > 0
              ? 'an attempt from before the exchange fence recorded this intent and never its outcome'
              : null;
        const [granted] = await tx.query<{
          lease_generation: number;
          lease_expires_at: Date;
          in_doubt_since: Date | null;
          in_doubt_reason: string | null;
          attempts: number;
        }>(
          `UPDATE ${table} SET
             lease_owner = $2, lease_generation = lease_generation + 1, lease_expires_at = ${TTL},
             in_doubt_since = CASE WHEN $4::text IS NOT NULL THEN coalesce(in_doubt_since, call_started_at, updated_at) ELSE in_doubt_since END,
             in_doubt_reason = coalesce(in_doubt_reason, $4::text),
             call_owner = NULL, call_started_at = NULL,
             attempts = attempts + 1, updated_at = now()
           WHERE ${pk} = $1
           RETURNING lease_generation, lease_expires_at, in_doubt_since, in_doubt_reason, attempts`,
          [key, i.owner, i.ttlMs, abandoned],
        );
        if (!granted) throw new Error(`${table}: intent ${key} vanished inside its transaction`);
        return {
          kind: 'acquired',
          generation: granted.lease_generation,
          expiresAt: iso(granted.lease_expires_at),
          inDoubt:
            granted.in_doubt_since !== null
              ? { since: iso(granted.in_doubt_since), reason: granted.in_doubt_reason ?? 'unknown' }
              : null,
          attempts: granted.attempts,
        };
      });
    },

    async refresh(i) {
      const updated = await db.query(
        `UPDATE ${table} SET lease_expires_at = ${TTL}
          WHERE ${pk} = $1 AND lease_generation = $2 AND state = 'pending' AND lease_owner IS NOT NULL
          RETURNING 1`,
        [spec.toKey(i.key), i.generation, i.ttlMs],
      );
      return updated.length > 0;
    },

    async callStarted(i) {
      const key = spec.toKey(i.key);
      const updated = await db.query(
        `UPDATE ${table} SET call_owner = lease_owner, call_started_at = now(), updated_at = now()
          WHERE ${pk} = $1 AND lease_generation = $2 AND state = 'pending' AND lease_owner IS NOT NULL
            AND lease_expires_at > ${TTL}
          RETURNING 1`,
        [key, i.generation, i.mustOutliveMs],
      );
      if (updated.length === 0) await lost(key, i.generation, 'before calling Plaid');
    },

    async callEnded(i) {
      const key = spec.toKey(i.key);
      const updated = await db.query(
        `UPDATE ${table} SET
           in_doubt_since = CASE WHEN $3::text IS NOT NULL THEN coalesce(in_doubt_since, call_started_at, now()) ELSE in_doubt_since END,
           in_doubt_reason = coalesce(in_doubt_reason, $3::text),
           call_owner = NULL, call_started_at = NULL, updated_at = now()
          WHERE ${pk} = $1 AND lease_generation = $2 AND state = 'pending' AND lease_owner IS NOT NULL
          RETURNING 1`,
        [key, i.generation, i.inDoubtReason],
      );
      if (updated.length === 0) await lost(key, i.generation, 'recording the answer of a Plaid call');
    },

    async settle(i) {
      const key = spec.toKey(i.key);
      const updated = await db.query(
        `UPDATE ${table} SET state = $3, error = $4::jsonb,
           lease_owner = NULL, lease_expires_at = NULL, call_owner = NULL, call_started_at = NULL,
           updated_at = now()
          WHERE ${pk} = $1 AND lease_generation = $2 AND state = 'pending' AND lease_owner IS NOT NULL
          RETURNING 1`,
        [key, i.generation, i.state, i.error === undefined ? null : JSON.stringify(i.error)],
      );
      if (updated.length === 0) await lost(key, i.generation, `recording the outcome ${i.state}`);
    },

    async release(i) {
      await db.query(
        `UPDATE ${table} SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE ${pk} = $1 AND lease_generation = $2`,
        [spec.toKey(i.key), i.generation],
      );
    },
  };
}

export interface CallLedgers {
  /** Keyed by the public token (stored as its SHA-256); a new intent needs its link token. */
  exchangeLedger: CallLedger<{ linkToken: string }>;
  /** Keyed by the link token: one processor token per Link session. */
  processorTokenLedger: CallLedger<{ itemId: string; accountId: string; processor: string }>;
  /** How many calls ended with an unknown outcome, for /metrics (read at scrape time). */
  outcomeUnknownCounts(): Promise<{ exchanges: number; processorTokens: number }>;
}

export function createCallLedgers(db: Db): CallLedgers {
  return {
    exchangeLedger: ledger(db, {
      table: 'exchange_intents',
      keyColumn: 'public_token_sha256',
      what: 'exchange of this public token',
      toKey: sha256Hex,
      async insert(tx, key, extra) {
        await tx.query(
          `INSERT INTO exchange_intents (public_token_sha256, link_token, state, attempts)
           VALUES ($1, $2, 'pending', 0) ON CONFLICT DO NOTHING`,
          [key, extra.linkToken],
        );
      },
    }),
    processorTokenLedger: ledger(db, {
      table: 'processor_token_intents',
      keyColumn: 'link_token',
      what: 'processor token of this Link session',
      toKey: (linkToken) => linkToken,
      async insert(tx, key, extra) {
        await tx.query(
          `INSERT INTO processor_token_intents (link_token, item_id, account_id, processor)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
          [key, extra.itemId, extra.accountId, extra.processor],
        );
      },
    }),
    async outcomeUnknownCounts() {
      const [row] = await db.query<{ exchanges: number; processor_tokens: number }>(
        `SELECT (SELECT count(*) FROM exchange_intents WHERE state = 'unknown')::int AS exchanges,
                (SELECT count(*) FROM processor_token_intents WHERE state = 'unknown')::int AS processor_tokens`,
      );
      return { exchanges: row?.exchanges ?? 0, processorTokens: row?.processor_tokens ?? 0 };
    },
  };
}
