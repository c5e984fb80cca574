/**
 * The audit trail of secret reads: one append-only row per read (the table refuses UPDATE and
 * DELETE), naming the key by fingerprint, never by value.
 */
import type { Db } from './db';

export interface SecretRead {
  at: string;
  /** The reading key's fingerprint. */
  key: string;
  route: string;
  item_id: string | null;
  session_id: string | null;
  request_id: string;
  remote: string | null;
}

export interface SecretReadAudit {
  recordSecretRead(r: Omit<SecretRead, 'at'>): Promise<void>;
  /** Newest first, at most `limit` (default 100). */
  listSecretReads(opts?: { limit?: number; itemId?: string; sessionId?: string }): Promise<SecretRead[]>;
}

export function createSecretReadAudit(db: Db): SecretReadAudit {
  return {
    async recordSecretRead(r) {
      await db.query(
        `INSERT INTO secret_reads (key_id, route, item_id, session_id, request_id, remote)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [r.key, r.route, r.item_id, r.session_id, r.request_id, r.remote],
      );
    },

    async listSecretReads(opts = {}) {
      const rows = await db.query<{
        at: Date;
        key_id: string;
        route: string;
        item_id: string | null;
        session_id: string | null;
        request_id: string;
        remote: string | null;
      }>(
        `SELECT at, key_id, route, item_id, session_id, request_id, remote FROM secret_reads
          WHERE ($2::text IS NULL OR item_id = $2) AND ($3::text IS NULL OR session_id = $3)
          ORDER BY id DESC LIMIT $1`,
        [opts.limit ?? 100, opts.itemId ?? null, opts.sessionId ?? null],
      );
      return rows.map((r) => ({
        at: r.at instanceof Date ? r.at.toISOString() : String(r.at),
        key: r.key_id,
        route: r.route,
        item_id: r.item_id,
        session_id: r.session_id,
        request_id: r.request_id,
        remote: r.remote,
      }));
    },
  };
}
