/**
 * Items and the tokens that reach them: creating an Item from a catalogue institution, issuing its
 * single-use public token, and resolving access tokens the way Plaid does.
 */
import { Products } from 'plaid';
import { type EmulatorContext, PUBLIC_TOKEN_LIFETIME_MS } from './context';
import { PlaidApiError } from './errors';
import { type FixtureInstitution, isAchEligible, supportsAuth } from './fixtures';
import { derivedBase62, derivedDigits, PLAID_OBJECT_ID_LENGTH } from './ids';
import type { AccountRecord, ItemRecord } from './state';

/** Plaid Sandbox's routing numbers. */
const SANDBOX_ROUTING = '011401533';
const SANDBOX_WIRE_ROUTING = '021000021';
const SANDBOX_ACCOUNT_PREFIX = '111122223333';

const ACCESS_TOKEN_FORMAT =
  /^access-(sandbox|development|production)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
const PUBLIC_TOKEN_FORMAT =
  /^public-(sandbox|development|production)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;

export interface ItemProducts {
  products: string[];
  consented_products: string[];
  available_products: string[];
  billed_products: string[];
}

/**
 * Which products an Item ends up with: every requested product (required, required-if-supported
 * or optional) the institution offers. `auth` therefore appears only where the institution supports
 * Auth and it was asked for. What the institution offers beyond that is `available_products`
 * (Balance among them, as Plaid lists it).
 */
export function itemProducts(inst: FixtureInstitution, requested: readonly string[]): ItemProducts {
  const offered = new Set<string>(inst.products);
  const products = [...new Set(requested)].filter(
    (p) => offered.has(p) && (p !== Products.Auth || supportsAuth(inst)),
  );
  return {
    products,
    consented_products: [...products],
    available_products: inst.products.filter((p) => !products.includes(p)),
    billed_products: [...products],
  };
}

function accountsFor(ctx: EmulatorContext, itemId: string, inst: FixtureInstitution): AccountRecord[] {
  return inst.accounts.map((a, index) => {
    const accountId = derivedBase62([ctx.state.seed, itemId, index], PLAID_OBJECT_ID_LENGTH);
    return {
      account_id: accountId,
      name: a.name,
      official_name: a.official_name,
      mask: a.mask,
      type: a.type,
      subtype: a.subtype,
      balances: { ...a.balances },
      // Plaid's Sandbox numbers (1111222233330000 for Plaid Checking) on Sandbox institutions;
      // elsewhere numbers that end with the mask, as real ones do.
      ach: isAchEligible(a)
        ? {
            account: inst.sandbox
              ? `${SANDBOX_ACCOUNT_PREFIX}${a.mask}`
              : `${derivedDigits([ctx.state.seed, accountId], 8)}${a.mask}`,
            routing: SANDBOX_ROUTING,
            wire_routing: SANDBOX_WIRE_ROUTING,
          }
        : null,
    };
  });
}

export interface NewItem {
  clientId: string;
  institution: FixtureInstitution;
  requestedProducts: readonly string[];
  webhook: string | null;
  linkToken: string | null;
  linkSessionId: string | null;
  userId: string | null;
}

export function createItem(ctx: EmulatorContext, spec: NewItem): ItemRecord {
  const itemId = ctx.rng.base62(PLAID_OBJECT_ID_LENGTH);
  const item: ItemRecord = {
    item_id: itemId,
    client_id: spec.clientId,
    institution_id: spec.institution.institution_id,
    institution_name: spec.institution.name,
    webhook: spec.webhook,
    ...itemProducts(spec.institution, spec.requestedProducts),
    accounts: accountsFor(ctx, itemId, spec.institution),
    created_at: ctx.now(),
    link_token: spec.linkToken,
    link_session_id: spec.linkSessionId,
    user_id: spec.userId,
    removed_at: null,
  };
  ctx.state.items[itemId] = item;
  return item;
}

/** Who linked the Item: its link token's client user (or Plaid user), with the API client. */
function endUserOf(ctx: EmulatorContext, item: ItemRecord): string | null {
  const token = item.link_token ? ctx.state.link_tokens[item.link_token] : undefined;
  const who = token?.client_user_id ?? token?.user_id ?? item.user_id;
  return who ? `${item.client_id} ${who}` : null;
}

/**
 * At an institution with one Item per login, a new Item invalidates the same end user's older
 * Items there (ITEM_LOGIN_REQUIRED), when the user completes the OAuth flow. Returns their ids.
 */
export function invalidateOlderItemsOfLogin(
  ctx: EmulatorContext,
  item: ItemRecord,
  inst: FixtureInstitution,
): string[] {
  const owner = inst.oneItemPerLogin ? endUserOf(ctx, item) : null;
  if (!owner) return [];
  const invalidated: string[] = [];
  for (const other of Object.values(ctx.state.items)) {
    if (other.item_id === item.item_id || other.removed_at !== null) continue;
    if (other.institution_id !== item.institution_id || endUserOf(ctx, other) !== owner) continue;
    other.error = 'ITEM_LOGIN_REQUIRED';
    invalidated.push(other.item_id);
  }
  if (invalidated.length > 0) ctx.changed();
  return invalidated;
}

export function issuePublicToken(ctx: EmulatorContext, item: ItemRecord): string {
  const token = `public-sandbox-${ctx.rng.uuid()}`;
  const now = ctx.now();
  ctx.state.public_tokens[token] = {
    public_token: token,
    item_id: item.item_id,
    client_id: item.client_id,
    created_at: now,
    expires_at: now + PUBLIC_TOKEN_LIFETIME_MS,
    exchanged_at: null,
  };
  ctx.state.exchanges[token] = 0;
  return token;
}

/** `/item/public_token/exchange`: single use, 30 minutes. Only successes are counted. */
export function exchangePublicToken(ctx: EmulatorContext, clientId: string, publicToken: string) {
  if (!PUBLIC_TOKEN_FORMAT.test(publicToken)) {
    throw new PlaidApiError('INVALID_PUBLIC_TOKEN', {
      message:
        'provided public token is in an invalid format. expected format: public-<environment>-<identifier>',
    });
  }
  const record = ctx.state.public_tokens[publicToken];
  // A used token is gone at Plaid: the second exchange finds nothing.
  if (!record || record.client_id !== clientId || record.exchanged_at !== null) {
    throw new PlaidApiError('INVALID_PUBLIC_TOKEN');
  }
  if (ctx.now() >= record.expires_at) {
    throw new PlaidApiError('INVALID_PUBLIC_TOKEN', {
      message:
        'provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged',
    });
  }
  const item = ctx.state.items[record.item_id];
  if (!item || item.removed_at !== null) throw new PlaidApiError('INVALID_PUBLIC_TOKEN');
  const accessToken = `access-sandbox-${ctx.rng.uuid()}`;
  record.exchanged_at = ctx.now();
  ctx.state.access_tokens[accessToken] = {
    access_token: accessToken,
    item_id: item.item_id,
    client_id: clientId,
    created_at: ctx.now(),
    revoked_at: null,
  };
  ctx.state.exchanges[publicToken] = (ctx.state.exchanges[publicToken] ?? 0) + 1;
  ctx.changed();
  return { accessToken, item };
}

/** The Item behind an access token; unknown, foreign or removed tokens are INVALID_ACCESS_TOKEN. */
export function itemForAccessToken(ctx: EmulatorContext, clientId: string, accessToken: string): ItemRecord {
  if (!ACCESS_TOKEN_FORMAT.test(accessToken)) {
    throw new PlaidApiError('INVALID_ACCESS_TOKEN', {
      message:
        'provided access token is in an invalid format. expected format: access-<environment>-<identifier>',
    });
  }
  const record = ctx.state.access_tokens[accessToken];
  if (!record || record.client_id !== clientId || record.revoked_at !== null) {
    throw new PlaidApiError('INVALID_ACCESS_TOKEN');
  }
  const item = ctx.state.items[record.item_id];
  if (!item || item.removed_at !== null) throw new PlaidApiError('INVALID_ACCESS_TOKEN');
  return item;
}

/** Sandbox Items fall into ITEM_LOGIN_REQUIRED 30 days after they were created, as Plaid's do. */
export const SANDBOX_LOGIN_EXPIRY_MS = 30 * 24 * 3_600_000;

/** The Item's error code now, if any: set by `/sandbox/item/reset_login`, or by age. */
export function itemErrorCode(ctx: EmulatorContext, item: ItemRecord): string | null {
  if (item.error) return item.error;
  return ctx.now() >= item.created_at + SANDBOX_LOGIN_EXPIRY_MS ? 'ITEM_LOGIN_REQUIRED' : null;
}

/** Product calls on an Item in an error state fail with that error, as at Plaid. */
export function requireHealthyItem(ctx: EmulatorContext, item: ItemRecord): void {
  const code = itemErrorCode(ctx, item);
  if (code) throw new PlaidApiError(code);
}

/** Narrows to the requested accounts, rejecting ids that are not this Item's. */
export function selectAccounts(item: ItemRecord, accountIds: readonly string[] | undefined): AccountRecord[] {
  if (accountIds === undefined) return item.accounts;
  for (const id of accountIds) {
    if (!item.accounts.some((a) => a.account_id === id)) throw new PlaidApiError('INVALID_ACCOUNT_ID');
  }
  return item.accounts.filter((a) => accountIds.includes(a.account_id));
}

export function removeItem(ctx: EmulatorContext, item: ItemRecord): void {
  const now = ctx.now();
  item.removed_at = now;
  for (const t of Object.values(ctx.state.access_tokens)) {
    if (t.item_id === item.item_id && t.revoked_at === null) t.revoked_at = now;
  }
  ctx.changed();
}
