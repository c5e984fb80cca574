/**
 * Link tokens the session makes after its own: the payment Link (Plaid's Multi-Item guide, step 5:
 * a single-Item Link with only `auth` or `transfer`, where the non-credential flows — Same-Day and
 * Automated Micro-deposits, Database Auth — are available, which Multi-Item Link cannot offer) and
 * update mode for manual micro-deposit verification (the Item's access token). Both reuse the
 * session's own token settings (client name, language, countries, webhook) from `/link/token/get`,
 * so the AUTH webhooks of the new Item come to the same verified route.
 */
import { type CountryCode, type LinkTokenCreateRequest, Products } from 'plaid';
import type { PaymentLinkTokenInput, VerificationLinkTokenInput } from '../workflows/activityTypes';
import type { CreatedLinkToken } from '../workflows/types';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';

type LinkDefaults = Pick<LinkTokenCreateRequest, 'client_name' | 'language' | 'country_codes' | 'webhook'> & {
  user_id?: string;
};

async function sessionDefaults(deps: ActivityDeps, sessionLinkToken: string): Promise<LinkDefaults> {
  try {
    const { data } = await deps.plaid.linkTokenGet({ link_token: sessionLinkToken });
    const m = data.metadata ?? {};
    const userId = (data as { user_id?: string }).user_id;
    return {
      client_name: m.client_name ?? 'linkflow',
      language: m.language ?? 'en',
      // Micro-deposits are US-only: keep the session's countries, which Plaid checks against the flows.
      country_codes: (m.country_codes?.length ? m.country_codes : ['US']) as CountryCode[],
      ...(m.webhook && { webhook: m.webhook }),
      ...(userId && { user_id: userId }),
    };
  } catch (err) {
    throw plaidFailure(err, 'reading the session link token for its settings');
  }
}

async function create(
  deps: ActivityDeps,
  request: LinkTokenCreateRequest,
  what: string,
): Promise<CreatedLinkToken> {
  try {
    const { data } = await deps.plaid.linkTokenCreate(request);
    return { link_token: data.link_token, expiration: data.expiration };
  } catch (err) {
    throw plaidFailure(err, what);
  }
}

export async function createPaymentLinkToken(
  deps: ActivityDeps,
  input: PaymentLinkTokenInput,
): Promise<CreatedLinkToken> {
  const defaults = await sessionDefaults(deps, input.sessionLinkToken);
  return create(
    deps,
    {
      ...defaults,
      user: { client_user_id: input.clientUserId },
      products: [input.product === 'transfer' ? Products.Transfer : Products.Auth],
      // Not Multi-Item: the non-credential flows exist only in single-Item Link.
      auth: {
        same_day_microdeposits_enabled: true,
        automated_microdeposits_enabled: true,
        database_insights_enabled: true,
        auth_type_select_enabled: true,
      },
    },
    'creating the payment Link token',
  );
}

export async function createVerificationLinkToken(
  deps: ActivityDeps,
  input: VerificationLinkTokenInput,
): Promise<CreatedLinkToken> {
  const defaults = await sessionDefaults(deps, input.sessionLinkToken);
  const accessToken = await deps.store.getAccessToken(input.itemId);
  // Update mode takes no products: the Item's access token says what it is.
  return create(
    deps,
    { ...defaults, user: { client_user_id: input.clientUserId }, access_token: accessToken },
    'creating the verification (update mode) link token',
  );
}
