/**
 * Records rendered as Plaid's response objects, typed with the `plaid` package so the compiler
 * holds them to Plaid's schema.
 */
import {
  type AccountBase,
  type AccountBaseVerificationStatusEnum,
  type AccountSubtype,
  type AccountType,
  type Item,
  ItemAuthMethod,
  ItemUpdateTypeEnum,
  type ItemWithConsentFields,
  ItemWithConsentFieldsUpdateTypeEnum,
  type LinkSessionSuccessMetadataAccount,
  type LinkSessionSuccessMetadataInstitution,
  type Products,
} from 'plaid';
import type { EmulatorContext } from './context';
import { PlaidApiError } from './errors';
import { isAchEligible } from './fixtures';
import { itemErrorCode } from './items';
import type { AccountRecord, ItemRecord } from './state';

/**
 * plaid's generated types encode "nullable enum" as an enum member whose value is the string
 * "null"; on the wire Plaid sends JSON null. This keeps the field typed while sending what Plaid sends.
 */
export function jsonNull<T>(): T {
  return null as T;
}

export function accountView(a: AccountRecord): AccountBase {
  return {
    account_id: a.account_id,
    balances: {
      available: a.balances.available,
      current: a.balances.current,
      limit: a.balances.limit,
      iso_currency_code: a.balances.iso_currency_code,
      unofficial_currency_code: null,
    },
    mask: a.mask,
    name: a.name,
    official_name: a.official_name,
    type: a.type as AccountType,
    subtype: a.subtype as AccountSubtype,
    holder_category: null,
    // Only Items from micro-deposit or database verification carry it, as at Plaid.
    ...(a.verification_status
      ? { verification_status: a.verification_status as AccountBaseVerificationStatusEnum }
      : {}),
    ...(a.verification_name ? { verification_name: a.verification_name } : {}),
  };
}

/** The account shape of Link metadata (`/link/token/get` results, `on_success`). */
export function linkAccountView(a: AccountRecord): LinkSessionSuccessMetadataAccount {
  return {
    id: a.account_id,
    name: a.name,
    mask: a.mask,
    type: a.type,
    subtype: a.subtype,
    verification_status: a.verification_status ?? null,
    class_type: null,
  };
}

/** Link metadata's institution; null for Items without an institution (manually entered numbers). */
export function linkInstitutionView(item: ItemRecord): LinkSessionSuccessMetadataInstitution | null {
  if (item.institution_id === null) return null;
  return { name: item.institution_name ?? '', institution_id: item.institution_id };
}

/** An Item's `error` as `/item/get` shows it: Plaid's error object, without a request id. */
export function itemErrorView(code: string | null): Item['error'] {
  if (!code) return null;
  const { request_id: _omitted, ...body } = new PlaidApiError(code).toBody('');
  return body as Item['error'];
}

export function itemView(item: ItemRecord, errorCode: string | null = null): Item {
  return {
    item_id: item.item_id,
    institution_id: item.institution_id,
    institution_name: item.institution_name,
    webhook: item.webhook,
    auth_method: item.auth_method
      ? (item.auth_method as ItemAuthMethod)
      : item.products.includes('auth')
        ? ItemAuthMethod.InstantAuth
        : null,
    error: itemErrorView(errorCode),
    available_products: item.available_products as Products[],
    billed_products: item.billed_products as Products[],
    products: item.products as Products[],
    consented_products: item.consented_products as Products[],
    consent_expiration_time: null,
    update_type: ItemUpdateTypeEnum.Background,
  };
}

export function itemWithConsentView(ctx: EmulatorContext, item: ItemRecord): ItemWithConsentFields {
  return {
    ...itemView(item, itemErrorCode(ctx, item)),
    update_type: ItemWithConsentFieldsUpdateTypeEnum.Background,
    created_at: ctx.isoSeconds(item.created_at),
  };
}

export function achAccounts(item: ItemRecord): AccountRecord[] {
  return item.accounts.filter(isAchEligible);
}
