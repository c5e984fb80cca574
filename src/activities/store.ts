/** What the Link session activities need from the item store (src/store implements it). */
import type { PaymentSecrets } from '../store/paymentCredentials';
import type { AccountMeta, Institution, PaymentProduct } from '../workflows/types';

export interface ExchangeRecord {
  state: 'pending' | 'exchanged' | 'failed';
  itemId: string | null;
  error: unknown;
}

export interface ActivityStore {
  findExchange(publicToken: string): Promise<ExchangeRecord | null>;
  beginExchange(i: { publicToken: string; linkToken: string }): Promise<void>;
  completeExchange(i: {
    publicToken: string;
    linkToken: string;
    clientUserId: string;
    userId: string;
    itemId: string;
    accessToken: string;
  }): Promise<void>;
  failExchange(i: { publicToken: string; error: { code: string; message: string } }): Promise<void>;
  getAccessToken(itemId: string): Promise<string>;
  saveItemDetails(d: {
    itemId: string;
    institution: Institution;
    products: string[];
    accounts: AccountMeta[];
  }): Promise<void>;
  savePaymentSetup(p: {
    linkToken: string;
    itemId: string;
    accountId: string;
    product: PaymentProduct;
    processorToken?: string | null;
    result: Record<string, unknown>;
  }): Promise<void>;
  /** The payment step's full output (ACH numbers, transfer authorization), encrypted; first write wins. */
  savePaymentCredentials(c: { linkToken: string; itemId: string; secrets: PaymentSecrets }): Promise<void>;
}
