/**
 * The item store: users, link sessions (Idempotency-Key), the exactly-once exchange guard, Items
 * with their encrypted access tokens, accounts and payment setups.
 *
 * Secrets are written only as envelopes whose AAD names the row (`items.access_token:<item_id>`,
 * `users.user_token:<client_user_id>`, `payment_setups.processor_token:<link_token>`), so an
 * envelope copied into another row or column fails to decrypt. Public tokens are never stored,
 * only their SHA-256.
 */
import { decryptString, encryptString, sha256Hex } from '../crypto/aesGcm';
import type { Keyring } from '../crypto/keyring';
import type { AccountMeta, Institution, PaymentProduct } from '../workflows/types';
import { type CallLedgers, createCallLedgers } from './callLedger';
import type { Db } from './db';
import { createDuplicateItemsStore, type DuplicateItemsStore, ITEM_REPLACED } from './duplicateItems';
import {
  ExchangeConflictError,
  IdempotencyKeyConflictError,
  NotFoundError,
  PaymentSetupConflictError,
  type StoredLinkSession,
} from './errors';
import { createHandoffStore, type HandoffStore } from './handoff';
import { paymentCredentialsAad } from './paymentCredentials';

/**
 * 'unknown': a request may have exchanged it at Plaid but its answer was lost (callLedger.ts).
 * 'duplicate': never exchanged, the user already has this Item (duplicateItems.ts).
 */
export type ExchangeState = 'pending' | 'exchanged' | 'failed' | 'unknown' | 'duplicate';

export interface StoredUser {
  clientUserId: string;
  userId: string;
  userToken: string | null;
}

export interface ExchangeRecord {
  state: ExchangeState;
  itemId: string | null;
  /** The last failure recorded by failExchange (kept while a retry is pending), else null. */
  error: unknown;
  attempts: number;
  /** The Item this one duplicates (state 'duplicate', or 'exchanged' with LINKFLOW_DUPLICATE_ITEMS=keep). */
  duplicateOf?: string;
  /** The invalidated Item of the same login this one replaces (marked ITEM_REPLACED once exchanged). */
  replaces?: string;
}

export interface ItemSummary {
  itemId: string;
  institutionId: string | null;
  institutionName: string | null;
  products: string[];
  status: string;
  /** In the order saveItemDetails received them. */
  accounts: AccountMeta[];
  createdAt: string;
}

export interface StoredPaymentSetup {
  itemId: string;
  accountId: string;
  product: PaymentProduct;
  result: Record<string, unknown>;
  hasProcessorToken: boolean;
}

export interface StoreCounts {
  items: number;
  /** Every exchange intent recorded, whatever its state. */
  exchanges: number;
  exchanged: number;
  pending: number;
  failed: number;
  /** Exchanges recorded as EXCHANGE_OUTCOME_UNKNOWN. */
  unknown: number;
}

export interface ReencryptFailure {
  table: 'users' | 'items' | 'payment_setups' | 'payment_credentials';
  /** The row's primary key. */
  key: string;
  message: string;
}

/** The exchange fence and the processor-token intents live in callLedger.ts; hand-off in handoff.ts. */
export interface ItemStore extends CallLedgers, HandoffStore, DuplicateItemsStore {
  upsertUser(u: { clientUserId: string; userId: string; userToken?: string | null }): Promise<void>;
  getUser(clientUserId: string): Promise<StoredUser | null>;

  /** Records an issued link token. Replaying the same link token is a no-op; an Idempotency-Key
   * already bound to another link token throws IdempotencyKeyConflictError (carrying that one). */
  saveLinkSession(s: {
    linkToken: string;
    clientUserId: string;
    userId: string;
    expiration: string;
    idempotencyKey?: string | null;
    requestFingerprint?: string | null;
  }): Promise<void>;
  findLinkSessionByIdempotencyKey(key: string): Promise<StoredLinkSession | null>;
  /** Newest first. */
  listLinkSessions(
    clientUserId: string,
  ): Promise<Array<{ linkToken: string; createdAt: string; userId: string; expiration: string }>>;

  /** The exactly-once guard: the item already exchanged for this public token, if any. */
  findExchange(publicToken: string): Promise<ExchangeRecord | null>;
  /** Before calling Plaid: inserts a 'pending' intent, or bumps `attempts` of a pending/failed one
   * (back to 'pending'). An 'exchanged' intent is left untouched. */
  beginExchange(i: { publicToken: string; linkToken: string }): Promise<void>;
  /** One transaction: the items row (access token encrypted) and the intent → 'exchanged'.
   * Repeating it for the same token and item is a no-op; another item for an already exchanged
   * token throws ExchangeConflictError. */
  completeExchange(i: {
    publicToken: string;
    linkToken: string;
    clientUserId: string;
    userId: string;
    itemId: string;
    accessToken: string;
  }): Promise<void>;
  /** Marks a pending intent failed; an exchanged one stays exchanged. Throws without beginExchange. */
  failExchange(i: { publicToken: string; error: { code: string; message: string } }): Promise<void>;

  /** Decrypts the item's access token; throws NotFoundError for an unknown item. */
  getAccessToken(itemId: string): Promise<string>;
  saveItemDetails(d: {
    itemId: string;
    institution: Institution;
    products: string[];
    accounts: AccountMeta[];
  }): Promise<void>;
  /** The link session's items, oldest first. */
  listItems(linkToken: string): Promise<ItemSummary[]>;

  /** Idempotent per link token: the first setup wins; repeating it is a no-op, a different
   * account/item/product throws PaymentSetupConflictError. */
  savePaymentSetup(p: {
    linkToken: string;
    itemId: string;
    accountId: string;
    product: PaymentProduct;
    processorToken?: string | null;
    result: Record<string, unknown>;
  }): Promise<void>;
  getPaymentSetup(linkToken: string): Promise<StoredPaymentSetup | null>;
  /** Decrypts the processor token of the session's payment setup; null if none was stored. */
  getProcessorToken(linkToken: string): Promise<string | null>;

  counts(): Promise<StoreCounts>;
  /** Re-encrypts every secret not written with the keyring's primary key (after a rotation; once
   * `failed` is empty the old key can be dropped). Safe to run alongside normal traffic. Rows that
   * cannot be decrypted are skipped and listed in `failed` (by primary key, never a secret). */
  reencryptSecrets(): Promise<{
    users: number;
    items: number;
    paymentSetups: number;
    paymentCredentials: number;
    failed: ReencryptFailure[];
  }>;
}

const accessTokenAad = (itemId: string) => `items.access_token:${itemId}`;
const userTokenAad = (clientUserId: string) => `users.user_token:${clientUserId}`;
const processorTokenAad = (linkToken: string) => `payment_setups.processor_token:${linkToken}`;

function iso(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

interface IntentRow {
  state: ExchangeState;
  item_id: string | null;
  error: unknown;
  attempts: number;
  duplicate_of: string | null;
  replaces: string | null;
}

interface LinkSessionRow {
  link_token: string;
  client_user_id: string;
  user_id: string;
  expiration: string;
  request_fingerprint: string | null;
}

const toLinkSession = (r: LinkSessionRow): StoredLinkSession => ({
  linkToken: r.link_token,
  clientUserId: r.client_user_id,
  userId: r.user_id,
  expiration: r.expiration,
  requestFingerprint: r.request_fingerprint,
});

/** A column of envelopes, for re-encryption after a key rotation. */
interface SecretColumn {
  table: 'users' | 'items' | 'payment_setups' | 'payment_credentials';
  pk: string;
  column: string;
  aad: (pk: string) => string;
}

const SECRET_COLUMNS: Record<'users' | 'items' | 'paymentSetups' | 'paymentCredentials', SecretColumn> = {
  users: { table: 'users', pk: 'client_user_id', column: 'user_token_enc', aad: userTokenAad },
  items: { table: 'items', pk: 'item_id', column: 'access_token_enc', aad: accessTokenAad },
  paymentSetups: {
    table: 'payment_setups',
    pk: 'link_token',
    column: 'processor_token_enc',
    aad: processorTokenAad,
  },
  paymentCredentials: {
    table: 'payment_credentials',
    pk: 'link_token',
    column: 'secret_enc',
    aad: paymentCredentialsAad,
  },
};

export function createItemStore(db: Db, keyring: Keyring): ItemStore {
  const seal = (plaintext: string, aad: string) => encryptString(keyring, plaintext, aad);

  async function findLinkSessionByIdempotencyKey(key: string): Promise<StoredLinkSession | null> {
    const [row] = await db.query<LinkSessionRow>(
      `SELECT link_token, client_user_id, user_id, expiration, request_fingerprint
         FROM link_sessions WHERE idempotency_key = $1`,
      [key],
    );
    return row ? toLinkSession(row) : null;
  }

  async function reencryptColumn(col: SecretColumn, failed: ReencryptFailure[]): Promise<number> {
    let done = 0;
    let after = '';
    for (;;) {
      // Keyset pagination, so a row that cannot be decrypted is reported once, not retried forever.
      const rows = await db.query<{ pk: string; enc: string }>(
        `SELECT ${col.pk} AS pk, ${col.column} AS enc FROM ${col.table}
          WHERE ${col.column} IS NOT NULL AND key_id <> $1 AND ${col.pk} > $2 ORDER BY ${col.pk} LIMIT 100`,
        [keyring.primaryKeyId, after],
      );
      if (rows.length === 0) return done;
      for (const row of rows) {
        after = row.pk;
        const aad = col.aad(row.pk);
        let fresh: string;
        try {
          fresh = seal(decryptString(keyring, row.enc, aad), aad);
        } catch (err) {
          failed.push({ table: col.table, key: row.pk, message: (err as Error).message });
          continue;
        }
        // Compare-and-set: a row rewritten meanwhile keeps its newer value.
        const updated = await db.query(
          `UPDATE ${col.table} SET ${col.column} = $2, key_id = $3
            WHERE ${col.pk} = $1 AND ${col.column} = $4 RETURNING 1`,
          [row.pk, fresh, keyring.primaryKeyId, row.enc],
        );
        done += updated.length;
      }
    }
  }

  return {
    ...createCallLedgers(db),
    ...createHandoffStore(db, keyring),
    ...createDuplicateItemsStore(db),
    async upsertUser(u) {
      const setToken = u.userToken !== undefined;
      const enc = u.userToken ? seal(u.userToken, userTokenAad(u.clientUserId)) : null;
      await db.query(
        `INSERT INTO users (client_user_id, user_id, user_token_enc, key_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (client_user_id) DO UPDATE SET
           user_id = EXCLUDED.user_id,
           user_token_enc = CASE WHEN $5::boolean THEN EXCLUDED.user_token_enc ELSE users.user_token_enc END,
           key_id = CASE WHEN $5::boolean THEN EXCLUDED.key_id ELSE users.key_id END,
           updated_at = now()`,
        [u.clientUserId, u.userId, enc, enc ? keyring.primaryKeyId : null, setToken],
      );
    },

    async getUser(clientUserId) {
      const [row] = await db.query<{ user_id: string; user_token_enc: string | null }>(
        'SELECT user_id, user_token_enc FROM users WHERE client_user_id = $1',
        [clientUserId],
      );
      if (!row) return null;
      return {
        clientUserId,
        userId: row.user_id,
        userToken: row.user_token_enc
          ? decryptString(keyring, row.user_token_enc, userTokenAad(clientUserId))
          : null,
      };
    },

    async saveLinkSession(s) {
      const inserted = await db.query(
        `INSERT INTO link_sessions
           (link_token, client_user_id, user_id, expiration, idempotency_key, request_fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING link_token`,
        [
          s.linkToken,
          s.clientUserId,
          s.userId,
          s.expiration,
          s.idempotencyKey ?? null,
          s.requestFingerprint ?? null,
        ],
      );
      if (inserted.length > 0 || !s.idempotencyKey) return;
      const existing = await findLinkSessionByIdempotencyKey(s.idempotencyKey);
      if (existing && existing.linkToken !== s.linkToken) throw new IdempotencyKeyConflictError(existing);
    },

    findLinkSessionByIdempotencyKey,

    async listLinkSessions(clientUserId) {
      const rows = await db.query<{
        link_token: string;
        created_at: Date;
        user_id: string;
        expiration: string;
      }>(
        `SELECT link_token, created_at, user_id, expiration FROM link_sessions
          WHERE client_user_id = $1 ORDER BY created_at DESC, link_token DESC`,
        [clientUserId],
      );
      return rows.map((r) => ({
        linkToken: r.link_token,
        createdAt: iso(r.created_at),
        userId: r.user_id,
        expiration: r.expiration,
      }));
    },

    async findExchange(publicToken) {
      const [row] = await db.query<IntentRow>(
        `SELECT state, item_id, error, attempts, duplicate_of, replaces
           FROM exchange_intents WHERE public_token_sha256 = $1`,
        [sha256Hex(publicToken)],
      );
      return row
        ? {
            state: row.state,
            itemId: row.item_id,
            error: row.error,
            attempts: row.attempts,
            ...(row.duplicate_of !== null && { duplicateOf: row.duplicate_of }),
            ...(row.replaces !== null && { replaces: row.replaces }),
          }
        : null;
    },

    async beginExchange(i) {
      await db.query(
        `INSERT INTO exchange_intents (public_token_sha256, link_token, state) VALUES ($1, $2, 'pending')
         ON CONFLICT (public_token_sha256) DO UPDATE SET
           state = 'pending', attempts = exchange_intents.attempts + 1, updated_at = now()
         WHERE exchange_intents.state <> 'exchanged'`,
        [sha256Hex(i.publicToken), i.linkToken],
      );
    },

    async completeExchange(i) {
      const tokenHash = sha256Hex(i.publicToken);
      const accessTokenEnc = seal(i.accessToken, accessTokenAad(i.itemId));
      await db.transaction(async (tx) => {
        // Lock the intent (creating it if beginExchange was skipped): concurrent completions of
        // the same public token queue here, and the later ones see the first one's outcome.
        await tx.query(
          `INSERT INTO exchange_intents (public_token_sha256, link_token, state) VALUES ($1, $2, 'pending')
           ON CONFLICT DO NOTHING`,
          [tokenHash, i.linkToken],
        );
        const [intent] = await tx.query<IntentRow>(
          'SELECT state, item_id, replaces FROM exchange_intents WHERE public_token_sha256 = $1 FOR UPDATE',
          [tokenHash],
        );
        if (intent?.state === 'exchanged' && intent.item_id) {
          if (intent.item_id === i.itemId) return;
          throw new ExchangeConflictError(intent.item_id, i.itemId);
        }
        const inserted = await tx.query(
          `INSERT INTO items
             (item_id, link_token, client_user_id, user_id, public_token_sha256, access_token_enc, key_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT DO NOTHING RETURNING item_id`,
          [i.itemId, i.linkToken, i.clientUserId, i.userId, tokenHash, accessTokenEnc, keyring.primaryKeyId],
        );
        if (inserted.length === 0) {
          const [byToken] = await tx.query<{ item_id: string }>(
            'SELECT item_id FROM items WHERE public_token_sha256 = $1',
            [tokenHash],
          );
          if (byToken && byToken.item_id !== i.itemId)
            throw new ExchangeConflictError(byToken.item_id, i.itemId);
          // Otherwise the item is already stored (reached through another public token): keep it.
        }
        await tx.query(
          `UPDATE exchange_intents SET state = 'exchanged', item_id = $2, error = NULL, updated_at = now()
            WHERE public_token_sha256 = $1`,
          [tokenHash, i.itemId],
        );
        // The older Item of the same login, which the OAuth institution invalidated when this one
        // was added: kept (never deleted), marked so nobody mistakes it for a live one.
        if (intent?.replaces && intent.replaces !== i.itemId) {
          await tx.query(
            `UPDATE items SET status = 'error', error = $2::jsonb, updated_at = now()
              WHERE item_id = $1 AND status <> 'removed'
                AND NOT (status = 'error' AND coalesce(error->>'code', '') = '${ITEM_REPLACED}')`,
            [
              intent.replaces,
              JSON.stringify({
                code: ITEM_REPLACED,
                message:
                  `replaced by Item ${i.itemId}: the institution invalidated this Item (ITEM_LOGIN_REQUIRED) when the same ` +
                  'login was linked again; Plaid recommends removing it (DELETE /items/:item_id calls /item/remove)',
                replaced_by: i.itemId,
              }),
            ],
          );
        }
      });
    },

    async failExchange(i) {
      const tokenHash = sha256Hex(i.publicToken);
      const updated = await db.query(
        `UPDATE exchange_intents SET state = 'failed', error = $2::jsonb, updated_at = now()
          WHERE public_token_sha256 = $1 AND state <> 'exchanged' RETURNING 1`,
        [tokenHash, JSON.stringify(i.error)],
      );
      if (updated.length > 0) return;
      const [exists] = await db.query('SELECT 1 FROM exchange_intents WHERE public_token_sha256 = $1', [
        tokenHash,
      ]);
      if (!exists) throw new NotFoundError('exchange intent (call beginExchange first)');
    },

    async getAccessToken(itemId) {
      const [row] = await db.query<{ access_token_enc: string | null }>(
        'SELECT access_token_enc FROM items WHERE item_id = $1',
        [itemId],
      );
      if (!row?.access_token_enc) throw new NotFoundError(`item ${itemId}${row ? ' (removed)' : ''}`);
      return decryptString(keyring, row.access_token_enc, accessTokenAad(itemId));
    },

    async saveItemDetails(d) {
      await db.transaction(async (tx) => {
        const updated = await tx.query(
          `UPDATE items SET institution_id = $2, institution_name = $3, products = $4::text[], updated_at = now()
            WHERE item_id = $1 RETURNING 1`,
          [d.itemId, d.institution.institution_id, d.institution.name, d.products],
        );
        if (updated.length === 0) throw new NotFoundError(`item ${d.itemId}`);
        for (const [position, a] of d.accounts.entries()) {
          await tx.query(
            `INSERT INTO accounts (account_id, item_id, position, name, mask, type, subtype)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account_id) DO UPDATE SET
               position = EXCLUDED.position, name = EXCLUDED.name, mask = EXCLUDED.mask,
               type = EXCLUDED.type, subtype = EXCLUDED.subtype, updated_at = now()
             WHERE accounts.item_id = EXCLUDED.item_id`,
            [a.account_id, d.itemId, position, a.name, a.mask, a.type, a.subtype],
          );
        }
      });
    },

    async listItems(linkToken) {
      const items = await db.query<{
        item_id: string;
        institution_id: string | null;
        institution_name: string | null;
        products: string[];
        status: string;
        created_at: Date;
      }>(
        `SELECT item_id, institution_id, institution_name, products, status, created_at
           FROM items WHERE link_token = $1 ORDER BY created_at, item_id`,
        [linkToken],
      );
      if (items.length === 0) return [];
      const accounts = await db.query<AccountMeta & { item_id: string }>(
        `SELECT item_id, account_id, name, mask, type, subtype FROM accounts
          WHERE item_id = ANY($1::text[]) ORDER BY item_id, position, account_id`,
        [items.map((r) => r.item_id)],
      );
      return items.map((r) => ({
        itemId: r.item_id,
        institutionId: r.institution_id,
        institutionName: r.institution_name,
        products: r.products,
        status: r.status,
        accounts: accounts
          .filter((a) => a.item_id === r.item_id)
          .map(({ account_id, name, mask, type, subtype }) => ({ account_id, name, mask, type, subtype })),
        createdAt: iso(r.created_at),
      }));
    },

    async savePaymentSetup(p) {
      const enc = p.processorToken ? seal(p.processorToken, processorTokenAad(p.linkToken)) : null;
      const inserted = await db.query(
        `INSERT INTO payment_setups (link_token, item_id, account_id, product, processor_token_enc, key_id, result)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
         ON CONFLICT (link_token) DO NOTHING RETURNING 1`,
        [
          p.linkToken,
          p.itemId,
          p.accountId,
          p.product,
          enc,
          enc ? keyring.primaryKeyId : null,
          JSON.stringify(p.result),
        ],
      );
      if (inserted.length > 0) return;
      const [existing] = await db.query<{ item_id: string; account_id: string; product: string }>(
        'SELECT item_id, account_id, product FROM payment_setups WHERE link_token = $1',
        [p.linkToken],
      );
      if (
        existing &&
        (existing.item_id !== p.itemId ||
          existing.account_id !== p.accountId ||
          existing.product !== p.product)
      ) {
        throw new PaymentSetupConflictError(p.linkToken, {
          itemId: existing.item_id,
          accountId: existing.account_id,
          product: existing.product,
        });
      }
    },

    async getPaymentSetup(linkToken) {
      const [row] = await db.query<{
        item_id: string;
        account_id: string;
        product: PaymentProduct;
        result: Record<string, unknown>;
        has_processor_token: boolean;
      }>(
        `SELECT item_id, account_id, product, result, processor_token_enc IS NOT NULL AS has_processor_token
           FROM payment_setups WHERE link_token = $1`,
        [linkToken],
      );
      if (!row) return null;
      return {
        itemId: row.item_id,
        accountId: row.account_id,
        product: row.product,
        result: row.result,
        hasProcessorToken: row.has_processor_token,
      };
    },

    async getProcessorToken(linkToken) {
      const [row] = await db.query<{ processor_token_enc: string | null }>(
        'SELECT processor_token_enc FROM payment_setups WHERE link_token = $1',
        [linkToken],
      );
      if (!row?.processor_token_enc) return null;
      return decryptString(keyring, row.processor_token_enc, processorTokenAad(linkToken));
    },

    async counts() {
      const [row] = await db.query<StoreCounts>(
        `SELECT (SELECT count(*) FROM items)::int AS items,
                count(*)::int AS exchanges,
                (count(*) FILTER (WHERE state = 'exchanged'))::int AS exchanged,
                (count(*) FILTER (WHERE state = 'pending'))::int AS pending,
                (count(*) FILTER (WHERE state = 'failed'))::int AS failed,
                (count(*) FILTER (WHERE state = 'unknown'))::int AS unknown
           FROM exchange_intents`,
      );
      return row ?? { items: 0, exchanges: 0, exchanged: 0, pending: 0, failed: 0, unknown: 0 };
    },

    async reencryptSecrets() {
      const failed: ReencryptFailure[] = [];
      return {
        users: await reencryptColumn(SECRET_COLUMNS.users, failed),
        items: await reencryptColumn(SECRET_COLUMNS.items, failed),
        paymentSetups: await reencryptColumn(SECRET_COLUMNS.paymentSetups, failed),
        paymentCredentials: await reencryptColumn(SECRET_COLUMNS.paymentCredentials, failed),
        failed,
      };
    },
  };
}
