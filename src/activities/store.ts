/** What the Link session activities need from the item store (src/store implements it). */
import type { CallLedgers } from '../store/callLedger';
import type { DuplicateItemsStore } from '../store/duplicateItems';
import type { PaymentSecrets } from '../store/paymentCredentials';
import type { AccountMeta, Institution, PaymentProduct } from '../workflows/types';

export interface ExchangeRecord {
  /**
   * 'unknown': an earlier request may have exchanged it; its answer was lost (callLedger.ts).
   * 'duplicate': deliberately not exchanged (store/duplicateItems.ts).
   */
  state: 'pending' | 'exchanged' | 'failed' | 'unknown' | 'duplicate';
  itemId: string | null;
  error: unknown;
  duplicateOf?: string | null;
  replaces?: string | null;
}

export interface ActivityStore extends Omit<CallLedgers, 'outcomeUnknownCounts'>, DuplicateItemsStore {
  findExchange(publicToken: string): Promise<ExchangeRecord | null>;
  completeExchange(i: {
    publicToken: string;
    linkToken: string;
    clientUserId: string;
    userId: string;
    itemId: string;
    accessToken: string;
  }): Promise<void>;
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
  getPaymentSetup(linkToken: string): Promise<{
    itemId: string;
    accountId: string;
    product: PaymentProduct;
    result: Record<string, unknown>;
    hasProcessorToken: boolean;
  } | null>;
  /** The payment step's full output (ACH numbers, transfer authorization), encrypted; first write wins. */
  savePaymentCredentials(c: { linkToken: string; itemId: string; secrets: PaymentSecrets }): Promise<void>;
}
