/**
 * The payment step's full output, for the secrets route: ACH numbers (`auth`), the processor token
 * (`processor`, kept in payment_setups) or the transfer authorization (`transfer`). Stored as one
 * envelope per session whose AAD names the row, like every other secret of the store.
 */
import { decryptString, encryptString } from '../crypto/aesGcm';
import type { Keyring } from '../crypto/keyring';
import type { Db } from './db';

export interface AchNumbers {
  account: string;
  routing: string;
  wire_routing: string | null;
}

/** What the payment step produced beyond its non-secret summary. */
export interface PaymentSecrets {
  ach?: AchNumbers;
  authorization?: Record<string, unknown>;
}

export interface PaymentCredentials {
  product: 'auth' | 'processor' | 'transfer';
  account_id: string;
  item_id: string;
  ach?: AchNumbers;
  processor_token?: string;
  authorization?: Record<string, unknown>;
}

export type PaymentCredentialsRead =
  | { state: 'found'; credentials: PaymentCredentials }
  /** The session's payment Item was removed: its secrets are gone. */
  | { state: 'removed'; itemId: string }
  | { state: 'missing' };

export interface PaymentCredentialsStore {
  /** Idempotent per link token: the first write wins (a retried payment step writes the same). */
  savePaymentCredentials(c: { linkToken: string; itemId: string; secrets: PaymentSecrets }): Promise<void>;
  readPaymentCredentials(linkToken: string): Promise<PaymentCredentialsRead>;
}

export const paymentCredentialsAad = (linkToken: string) => `payment_credentials.secret:${linkToken}`;
const secretAad = paymentCredentialsAad;
const processorTokenAad = (linkToken: string) => `payment_setups.processor_token:${linkToken}`;

export function createPaymentCredentialsStore(db: Db, keyring: Keyring): PaymentCredentialsStore {
  return {
    async savePaymentCredentials(c) {
      await db.query(
        `INSERT INTO payment_credentials (link_token, item_id, secret_enc, key_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (link_token) DO NOTHING`,
        [
          c.linkToken,
          c.itemId,
          encryptString(keyring, JSON.stringify(c.secrets), secretAad(c.linkToken)),
          keyring.primaryKeyId,
        ],
      );
    },

    async readPaymentCredentials(linkToken) {
      const [row] = await db.query<{
        product: PaymentCredentials['product'];
        account_id: string;
        item_id: string;
        item_status: string;
        processor_token_enc: string | null;
        secret_enc: string | null;
      }>(
        `SELECT s.product, s.account_id, s.item_id, i.status AS item_status, s.processor_token_enc,
                c.secret_enc
           FROM payment_setups s
           JOIN items i ON i.item_id = s.item_id
           LEFT JOIN payment_credentials c ON c.link_token = s.link_token
          WHERE s.link_token = $1`,
        [linkToken],
      );
      if (!row) return { state: 'missing' };
      if (row.item_status === 'removed') return { state: 'removed', itemId: row.item_id };
      const secrets: PaymentSecrets = row.secret_enc
        ? JSON.parse(decryptString(keyring, row.secret_enc, secretAad(linkToken)))
        : {};
      return {
        state: 'found',
        credentials: {
          product: row.product,
          account_id: row.account_id,
          item_id: row.item_id,
          ...(secrets.ach && { ach: secrets.ach }),
          ...(row.processor_token_enc && {
            processor_token: decryptString(keyring, row.processor_token_enc, processorTokenAad(linkToken)),
          }),
          ...(secrets.authorization && { authorization: secrets.authorization }),
        },
      };
    },
  };
}
