/**
 * Plaid's recommended payment-account rule: an account can move money when its subtype is
 * checking or savings and its Item's `/item/get` `item.products` contains `auth`. A missing
 * `products` means no auth. Pure, so the workflow, the API and the demo page agree.
 */
import type { AccountMeta, EligibleAccountView, IneligibleAccountView, Institution } from './types';

export const PAYMENT_SUBTYPES: readonly string[] = ['checking', 'savings'];

export interface ItemForEligibility {
  itemId: string;
  institution: Institution;
  products: string[] | null | undefined;
  accounts: AccountMeta[];
}

export interface Eligibility {
  eligible: EligibleAccountView[];
  ineligible: IneligibleAccountView[];
}

export function eligiblePaymentAccounts(items: readonly ItemForEligibility[]): Eligibility {
  const eligible: EligibleAccountView[] = [];
  const ineligible: IneligibleAccountView[] = [];
  for (const item of items) {
    const hasAuth = (item.products ?? []).includes('auth');
    for (const account of item.accounts) {
      const view: EligibleAccountView = {
        account_id: account.account_id,
        item_id: item.itemId,
        name: account.name,
        mask: account.mask,
        subtype: account.subtype,
        institution_name: item.institution.name,
      };
      if (!PAYMENT_SUBTYPES.includes(account.subtype ?? '')) {
        ineligible.push({ ...view, reason: 'not_checking_or_savings' });
      } else if (!hasAuth) {
        ineligible.push({ ...view, reason: 'item_without_auth' });
      } else {
        eligible.push(view);
      }
    }
  }
  return { eligible, ineligible };
}
