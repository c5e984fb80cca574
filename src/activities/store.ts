/** What the Link session activities need from the item store (src/store implements it). */
import type { CallLedgers } from '../store/callLedger';
import type { PaymentSecrets } from '../store/paymentCredentials';
import type { AccountMeta, Institution, PaymentProduct } from '../workflows/types';

export interface ExchangeRecord {
  /** 'unknown': an earlier request may have exchanged it; its answer was lost (callLedger.ts). */
  state: 'pending' | 'exchanged' | 'failed' | 'unknown';
  itemId: string | null;
  error: unknown;
}

export interface ActivityStore extends Omit<CallLedgers, 'outcomeUnknownCounts'> {
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
