/**
 * Duplicate Items (issue 15): is a public token about to be exchanged an Item the client user
 * already has? Plaid's guide "Preventing duplicate Items" says to compare, before requesting an
 * access token, Link's metadata for the new Item with the user's existing Items using the
 * institution_id together with the accounts' names and masks, and not to exchange a duplicate.
 * The rule here (`sameItem`): the same institution_id, and at least one account whose name and
 * mask are both present and both equal. A mask is never compared with an account number.
 *
 * The check is race-free across attempts and workers: it runs in one transaction holding a
 * per-client-user advisory lock, and a token it lets through has its metadata recorded on its
 * exchange intent (`dup_checked_at`) before the lock is released, so a concurrent check of the
 * same user sees it. A match that is still being exchanged makes the caller wait (retry) until it
 * settles: exchanged → duplicate of it; failed, unknown or duplicate itself → not a match.
 */
import { sha256Hex } from '../crypto/aesGcm';
import type { AccountMeta, Institution, ItemDetails, ItemMetadata } from '../workflows/types';
import type { Db } from './db';

export type DuplicateMode = 'skip' | 'keep';

/** What the caller learned at Plaid about a matching Item (see `verify`). */
export type ItemVerdict = 'live' | 'invalidated';

/** Advisory lock class of the duplicate check ('lfDU'); the second key is hashtext(client_user_id). */
export const DUPLICATE_LOCK_CLASS = 0x6c664455;

/**
 * A token let through that shows no sign of life for this long (no live lease, no write) no
 * longer holds back the user's other tokens: its workflow may be gone, and they must not wait
 * for it until their own public tokens expire.
 */
export const STALE_PENDING_MS = 5 * 60_000;

export const DUPLICATE_ITEM = 'DUPLICATE_ITEM';
export const ITEM_REPLACED = 'ITEM_REPLACED';

export interface AccountKey {
  name: string | null;
  mask: string | null;
}

export interface ItemFingerprint {
  institutionId: string | null;
  accounts: AccountKey[];
}

const clean = (v: string | null | undefined): string | null => {
  const t = typeof v === 'string' ? v.trim() : '';
  return t.length > 0 ? t : null;
};

/**
 * Plaid's comparison: the same institution_id and an account with the same name and mask. Returns
 * the first account both Items share (what makes them one), or null. Missing ids, names or masks
 * never match: nothing proves two Items the same there.
 */
export function sameItem(a: ItemFingerprint, b: ItemFingerprint): { name: string; mask: string } | null {
  const institution = clean(a.institutionId);
  if (!institution || institution !== clean(b.institutionId)) return null;
  for (const x of a.accounts) {
    const name = clean(x.name);
    const mask = clean(x.mask);
    if (!name || !mask) continue;
    if (b.accounts.some((y) => clean(y.name) === name && clean(y.mask) === mask)) return { name, mask };
  }
  return null;
}

export function fingerprintOf(m: ItemMetadata | null | undefined): ItemFingerprint {
  return {
    institutionId: m?.institution?.institution_id ?? null,
    accounts: (m?.accounts ?? []).map((a) => ({ name: a.name, mask: a.mask })),
  };
}

export interface DuplicateCheckInput {
  publicToken: string;
  /** The session's link token (a new intent row needs it). */
  linkToken: string;
  clientUserId: string;
  metadata: ItemMetadata;
  mode: DuplicateMode;
  /** Verdicts the caller obtained at Plaid for Items a previous call asked to `verify`. */
  verdicts?: Record<string, ItemVerdict>;
  /** Let the token through even while a matching one is being exchanged (the last attempt). */
  ignorePending?: boolean;
  /**
   * Products the token was linked for (the payment Link: `auth`): an original lacking one does not
   * make it redundant, so it is exchanged (with `duplicateOf` for information) instead of skipped.
   */
  needs?: string[];
}

export type DuplicateCheckOutcome =
  /** The intent is no longer pending (exchanged, failed, unknown, duplicate): read it. */
  | { kind: 'settled' }
  /** Exchange it. With `duplicateOf` (keep) or `replaces` (an invalidated OAuth Item). */
  | {
      kind: 'clear';
      duplicateOf: string | null;
      replaces: string | null;
      /** Matching tokens let through earlier that showed no sign of life, overtaken. */
      overtook: number;
      /** Matching tokens still being exchanged, let through anyway (`ignorePending`). */
      ignoredPending: number;
    }
  /** Another public token of the same Item is being exchanged: try again once it settles. */
  | { kind: 'wait'; checkedAt: string; leaseExpiresAt: string | null }
  /** These matching Items may have been invalidated by this one: ask Plaid, call again with verdicts. */
  | { kind: 'verify'; items: Array<{ itemId: string; institutionId: string }> }
  /** skip: recorded as a duplicate, never to be exchanged. */
  | { kind: 'duplicate'; of: string; original: ItemDetails | null; error: { code: string; message: string } };

export interface DuplicateItemsStore {
  /** The duplicate check of one public token, under the client user's lock (see the module doc). */
  checkDuplicate(i: DuplicateCheckInput): Promise<DuplicateCheckOutcome>;
}

interface OwnRow {
  state: string;
  call_owner: string | null;
  in_doubt_since: Date | null;
  dup_checked_at: Date | null;
  duplicate_of: string | null;
  replaces: string | null;
}

interface ItemRow {
  item_id: string;
  institution_id: string | null;
  institution_name: string | null;
  products: string[];
  created_at: Date;
  link_metadata: ItemMetadata | null;
}

interface PendingRow {
  public_token_sha256: string;
  link_metadata: ItemMetadata | null;
  dup_checked_at: Date;
  lease_expires_at: Date | null;
  fresh: boolean;
}

const iso = (d: Date | null): string | null => (d instanceof Date ? d.toISOString() : d ? String(d) : null);

interface Candidate {
  itemId: string;
  products: string[];
  fingerprint: ItemFingerprint;
  details: ItemDetails | null;
  shared: { name: string; mask: string };
}

export function createDuplicateItemsStore(db: Db): DuplicateItemsStore {
  return {
    async checkDuplicate(i) {
      const tokenHash = sha256Hex(i.publicToken);
      const mine = fingerprintOf(i.metadata);
      return db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))', [
          DUPLICATE_LOCK_CLASS,
          i.clientUserId,
        ]);
        const [own] = await tx.query<OwnRow>(
          `SELECT state, call_owner, in_doubt_since, dup_checked_at, duplicate_of, replaces
             FROM exchange_intents WHERE public_token_sha256 = $1 FOR UPDATE`,
          [tokenHash],
        );
        if (own && own.state !== 'pending') return { kind: 'settled' };
        // Decided before (an earlier attempt): the decision stands.
        if (own?.dup_checked_at) {
          return {
            kind: 'clear',
            duplicateOf: own.duplicate_of,
            replaces: own.replaces,
            overtook: 0,
            ignoredPending: 0,
          };
        }
        // Plaid may already have exchanged it (an intent from before the check): never a duplicate now.
        if (own && (own.call_owner !== null || own.in_doubt_since !== null)) {
          return { kind: 'clear', duplicateOf: null, replaces: null, overtook: 0, ignoredPending: 0 };
        }

        // Other tokens of this user let through and not settled yet.
        const pending = await tx.query<PendingRow>(
          `SELECT public_token_sha256, link_metadata, dup_checked_at, lease_expires_at,
                  (coalesce(lease_expires_at > now(), false)
                    OR updated_at > now() - ($3::bigint * interval '1 millisecond')) AS fresh
             FROM exchange_intents
            WHERE client_user_id = $1 AND state = 'pending' AND dup_checked_at IS NOT NULL
              AND public_token_sha256 <> $2
            ORDER BY dup_checked_at, public_token_sha256`,
          [i.clientUserId, tokenHash, STALE_PENDING_MS],
        );
        const pendingMatches = pending.filter((p) => sameItem(mine, fingerprintOf(p.link_metadata)));
        const live = pendingMatches.filter((p) => p.fresh);
        const first = live[0];
        if (first && !i.ignorePending) {
          return {
            kind: 'wait',
            checkedAt: iso(first.dup_checked_at) ?? '',
            leaseExpiresAt: iso(first.lease_expires_at),
          };
        }

        const candidates = await itemCandidates(tx, i.clientUserId, mine);
        const missing = candidates.filter((c) => !i.verdicts?.[c.itemId]);
        if (missing.length > 0) {
          return {
            kind: 'verify',
            items: missing.map((c) => ({
              itemId: c.itemId,
              institutionId: c.fingerprint.institutionId ?? '',
            })),
          };
        }
        const liveItems = candidates.filter((c) => i.verdicts?.[c.itemId] === 'live');
        const invalidated = candidates.filter((c) => i.verdicts?.[c.itemId] === 'invalidated');
        // Skipped only for an original that already serves what this token was linked for.
        const needs = i.needs ?? [];
        const original = liveItems.find((c) => needs.every((p) => c.products.includes(p)));
        const overtook = pendingMatches.length - live.length;
        const ignoredPending = live.length;

        if (original && i.mode === 'skip') {
          const error = {
            code: DUPLICATE_ITEM,
            message:
              `not exchanged: this Item duplicates Item ${original.itemId}, which the same client user already has ` +
              `(institution ${mine.institutionId}, account "${original.shared.name}" mask ${original.shared.mask}); ` +
              'LINKFLOW_DUPLICATE_ITEMS=skip keeps the original and never exchanges the duplicate',
          };
          await record(tx, i, tokenHash, {
            state: 'duplicate',
            duplicateOf: original.itemId,
            replaces: null,
            error: { ...error, original: original.details },
          });
          return { kind: 'duplicate', of: original.itemId, original: original.details, error };
        }
        const duplicateOf = original?.itemId ?? liveItems[0]?.itemId ?? null;
        // The newest invalidated one is the Item of this login that this one takes over.
        const replaces = !duplicateOf ? (invalidated[invalidated.length - 1]?.itemId ?? null) : null;
        await record(tx, i, tokenHash, { state: 'pending', duplicateOf, replaces, error: null });
        return { kind: 'clear', duplicateOf, replaces, overtook, ignoredPending };
      });
    },
  };
}

/** The user's Items (all sessions; removed and replaced ones do not count) that match `mine`, oldest first. */
async function itemCandidates(tx: Db, clientUserId: string, mine: ItemFingerprint): Promise<Candidate[]> {
  const rows = await tx.query<ItemRow>(
    `SELECT i.item_id, i.institution_id, i.institution_name, i.products, i.created_at, e.link_metadata
       FROM items i
       LEFT JOIN exchange_intents e ON e.item_id = i.item_id AND e.link_metadata IS NOT NULL
      WHERE i.client_user_id = $1 AND i.status <> 'removed'
        AND NOT (i.status = 'error' AND coalesce(i.error->>'code', '') = '${ITEM_REPLACED}')
      ORDER BY i.created_at, i.item_id`,
    [clientUserId],
  );
  if (rows.length === 0) return [];
  const accounts = await tx.query<AccountMeta & { item_id: string }>(
    `SELECT item_id, account_id, name, mask, type, subtype FROM accounts
      WHERE item_id = ANY($1::text[]) ORDER BY item_id, position, account_id`,
    [rows.map((r) => r.item_id)],
  );
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const r of rows) {
    if (seen.has(r.item_id)) continue;
    seen.add(r.item_id);
    const own = accounts
      .filter((a) => a.item_id === r.item_id)
      .map(({ account_id, name, mask, type, subtype }) => ({ account_id, name, mask, type, subtype }));
    // What /item/get and /accounts/get said (describeItem), else what Link said at exchange time.
    const linked = fingerprintOf(r.link_metadata);
    const fingerprint: ItemFingerprint = {
      institutionId: r.institution_id ?? linked.institutionId,
      accounts: [...own.map((a) => ({ name: a.name, mask: a.mask })), ...linked.accounts],
    };
    const shared = sameItem(mine, fingerprint);
    if (!shared) continue;
    const institution: Institution = {
      institution_id: r.institution_id,
      name: r.institution_name,
    };
    const details: ItemDetails | null =
      r.institution_id !== null || own.length > 0
        ? { itemId: r.item_id, institution, products: r.products ?? [], accounts: own }
        : null;
    out.push({ itemId: r.item_id, products: r.products ?? [], fingerprint, details, shared });
  }
  return out;
}

async function record(
  tx: Db,
  i: DuplicateCheckInput,
  tokenHash: string,
  d: { state: 'pending' | 'duplicate'; duplicateOf: string | null; replaces: string | null; error: unknown },
): Promise<void> {
  const updated = await tx.query(
    `INSERT INTO exchange_intents
       (public_token_sha256, link_token, state, attempts, client_user_id, link_metadata, dup_checked_at,
        duplicate_of, replaces, error)
     VALUES ($1, $2, $3, 0, $4, $5::jsonb, now(), $6, $7, $8::jsonb)
     ON CONFLICT (public_token_sha256) DO UPDATE SET
       state = EXCLUDED.state, client_user_id = EXCLUDED.client_user_id,
       link_metadata = EXCLUDED.link_metadata, dup_checked_at = EXCLUDED.dup_checked_at,
       duplicate_of = EXCLUDED.duplicate_of, replaces = EXCLUDED.replaces,
       error = coalesce(EXCLUDED.error, exchange_intents.error),
       lease_owner = CASE WHEN EXCLUDED.state = 'pending' THEN exchange_intents.lease_owner END,
       lease_expires_at = CASE WHEN EXCLUDED.state = 'pending' THEN exchange_intents.lease_expires_at END,
       updated_at = now()
     WHERE exchange_intents.state = 'pending' AND exchange_intents.call_owner IS NULL
       AND exchange_intents.in_doubt_since IS NULL
     RETURNING 1`,
    [
      tokenHash,
      i.linkToken,
      d.state,
      i.clientUserId,
      JSON.stringify(i.metadata),
      d.duplicateOf,
      d.replaces,
      d.error === null ? null : JSON.stringify(d.error),
    ],
  );
  // The intent row is locked (FOR UPDATE) or was absent: this cannot miss unless it changed under the lock.
  if (updated.length === 0) throw new Error('exchange intent changed during the duplicate check');
}
