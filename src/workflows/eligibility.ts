/**
 * Plaid's recommended payment-account rule: an account can move money when its subtype is
 * checking or savings and its Item's `/item/get` `item.products` contains `auth`. A missing
 * `products` means no auth. Pure, so the workflow, the API and the demo page agree.
 */
import type {
  AccountMeta,
  EligibleAccountView,
  IneligibleAccountView,
  Institution,
  PendingAccountView,
} from './types';

export const PAYMENT_SUBTYPES: readonly string[] = ['checking', 'savings'];

/**
 * Plaid's `verification_status` values that make an account usable for money movement: verified
 * by micro-deposits, or numbers that Database Auth found on the Plaid network. Absent or null:
 * verified instantly with credentials.
 */
export const VERIFIED_STATUSES: readonly string[] = [
  'automatically_verified',
  'manually_verified',
  'database_matched',
  'database_insights_pass',
];

/** Plaid is still verifying: micro-deposits not yet sent, or sent and not yet confirmed. */
export const PENDING_STATUSES: readonly string[] = [
  'pending_automatic_verification',
  'pending_manual_verification',
  'unsent',
];

export type VerificationState = 'verified' | 'pending' | 'unverified';

/**
 * Every other status is unusable: `verification_expired`, `verification_failed`,
 * `database_insights_fail`, and `database_insights_pass_with_caution` (weak signal only: the
 * harsher reading, since a wrong account number means a returned payment), and any status Plaid
 * adds later.
 */
export function verificationState(status: string | null | undefined): VerificationState {
  if (!status || VERIFIED_STATUSES.includes(status)) return 'verified';
  return PENDING_STATUSES.includes(status) ? 'pending' : 'unverified';
}

export interface ItemForEligibility {
  itemId: string;
  institution: Institution;
  products: string[] | null | undefined;
  accounts: AccountMeta[];
}

export interface Eligibility {
  eligible: EligibleAccountView[];
  ineligible: IneligibleAccountView[];
  /** Checking or savings on an Item with auth, awaiting verification. */
  pending: PendingAccountView[];
}

export function eligiblePaymentAccounts(items: readonly ItemForEligibility[]): Eligibility {
  const eligible: EligibleAccountView[] = [];
  const ineligible: IneligibleAccountView[] = [];
  const pending: PendingAccountView[] = [];
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
        const status = account.verification_status ?? null;
        const state = verificationState(status);
        if (state === 'verified') eligible.push(view);
        else if (state === 'pending') pending.push({ ...view, verification_status: status as string });
        else ineligible.push({ ...view, reason: 'not_verified', verification_status: status as string });
      }
    }
  }
  return { eligible, ineligible, pending };
}
