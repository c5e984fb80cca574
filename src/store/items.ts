/**
 * The Items aggregate as the customer's backend sees it: an Item with its accounts and status,
 * listed per client user, read by the secrets route, and removed. Removal deletes the ciphertext
 * of the access token (and of the Item's processor token and payment credentials) in one
 * transaction: nothing is left that a key, a rotation or a restored backup of the row could open.
 */
import { decryptString } from '../crypto/aesGcm';
import type { Keyring } from '../crypto/keyring';
import type { Db } from './db';

export type ItemStatus = 'active' | 'error' | 'removed';

export interface StoredItemAccount {
  account_id: string;
  name: string | null;
  mask: string | null;
  type: string | null;
  subtype: string | null;
}

export interface StoredItem {
  itemId: string;
  clientUserId: string;
  sessionId: string;
  institution: { institution_id: string | null; name: string | null };
  accounts: StoredItemAccount[];
  products: string[];
  status: ItemStatus;
  error: { code: string; message: string } | null;
  createdAt: string;
  removedAt: string | null;
}

/** What reading an access token found: the token, an Item removed (410), or no such Item (404). */
export type AccessTokenRead =
  | { state: 'active'; accessToken: string }
  | { state: 'removed'; removedAt: string }
  | { state: 'missing' };

export interface ItemsStore {
  getItem(itemId: string): Promise<StoredItem | null>;
  /** The client user's Items, oldest first. */
  listItemsOfClientUser(clientUserId: string): Promise<StoredItem[]>;
  readAccessToken(itemId: string): Promise<AccessTokenRead>;
  /**
   * Deletes the Item's access token, its processor token and its payment credentials and marks
   * it removed; a no-op for an Item already removed. Returns the Item as it now is, null if unknown.
   */
  removeItem(itemId: string): Promise<StoredItem | null>;
}

const accessTokenAad = (itemId: string) => `items.access_token:${itemId}`;

interface ItemRow {
  item_id: string;
  client_user_id: string;
  link_token: string;
  institution_id: string | null;
  institution_name: string | null;
  products: string[];
  status: string;
  error: { code?: string; message?: string } | null;
  created_at: Date;
  removed_at: Date | null;
}

const ITEM_COLUMNS = `item_id, client_user_id, link_token, institution_id, institution_name, products,
  status, error, created_at, removed_at`;

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value));

/** The stored status in the Items API's words: exchanged is `active`. */
function statusOf(row: ItemRow): ItemStatus {
  if (row.status === 'removed') return 'removed';
  if (row.status === 'error') return 'error';
  return 'active';
}

export function createItemsStore(db: Db, keyring: Keyring): ItemsStore {
  async function withAccounts(rows: ItemRow[], q: Db = db): Promise<StoredItem[]> {
    if (rows.length === 0) return [];
    const accounts = await q.query<StoredItemAccount & { item_id: string }>(
      `SELECT item_id, account_id, name, mask, type, subtype FROM accounts
        WHERE item_id = ANY($1::text[]) ORDER BY item_id, position, account_id`,
      [rows.map((r) => r.item_id)],
    );
    return rows.map((r) => ({
      itemId: r.item_id,
      clientUserId: r.client_user_id,
      sessionId: r.link_token,
      institution: { institution_id: r.institution_id, name: r.institution_name },
      accounts: accounts
        .filter((a) => a.item_id === r.item_id)
        .map(({ account_id, name, mask, type, subtype }) => ({ account_id, name, mask, type, subtype })),
      products: r.products,
      status: statusOf(r),
      error:
        r.error && statusOf(r) === 'error'
          ? { code: String(r.error.code ?? 'ITEM_ERROR'), message: String(r.error.message ?? '') }
          : null,
      createdAt: iso(r.created_at),
      removedAt: r.removed_at ? iso(r.removed_at) : null,
    }));
  }

  async function getItem(itemId: string, q: Db = db): Promise<StoredItem | null> {
    const rows = await q.query<ItemRow>(`SELECT ${ITEM_COLUMNS} FROM items WHERE item_id = $1`, [itemId]);
    const [item] = await withAccounts(rows, q);
    return item ?? null;
  }

  return {
    getItem: (itemId) => getItem(itemId),

    async listItemsOfClientUser(clientUserId) {
      const rows = await db.query<ItemRow>(
        `SELECT ${ITEM_COLUMNS} FROM items WHERE client_user_id = $1 ORDER BY created_at, item_id`,
        [clientUserId],
      );
      return withAccounts(rows);
    },

    async readAccessToken(itemId) {
      const [row] = await db.query<{ access_token_enc: string | null; removed_at: Date | null }>(
        'SELECT access_token_enc, removed_at FROM items WHERE item_id = $1',
        [itemId],
      );
      if (!row) return { state: 'missing' };
      if (!row.access_token_enc) return { state: 'removed', removedAt: iso(row.removed_at) };
      return {
        state: 'active',
        accessToken: decryptString(keyring, row.access_token_enc, accessTokenAad(itemId)),
      };
    },

    async removeItem(itemId) {
      return db.transaction(async (tx) => {
        const [row] = await tx.query<{ status: string }>(
          'SELECT status FROM items WHERE item_id = $1 FOR UPDATE',
          [itemId],
        );
        if (!row) return null;
        if (row.status !== 'removed') {
          await tx.query('DELETE FROM payment_credentials WHERE item_id = $1', [itemId]);
          await tx.query(
            `UPDATE payment_setups SET processor_token_enc = NULL, key_id = NULL
              WHERE item_id = $1 AND processor_token_enc IS NOT NULL`,
            [itemId],
          );
          await tx.query(
            `UPDATE items SET access_token_enc = NULL, key_id = NULL, status = 'removed',
                    removed_at = now(), updated_at = now()
              WHERE item_id = $1`,
            [itemId],
          );
        }
        return getItem(itemId, tx);
      });
    },
  };
}
