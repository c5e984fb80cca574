/**
 * `/link/token/create` and `/link/token/get`.
 *
 * Creation validates like Plaid (required `client_name`, `language`, `country_codes`, a user, at
 * least one product) and binds the token to the `/user/create` user given by `user_id` (new API) or
 * `user_token` (legacy); a `user.client_user_id` that is not that user's is rejected. The token
 * lives four hours; thirty minutes in update mode and for Hosted Link. `/link/token/get` lists the token's Link sessions with their results until six
 * hours after each session finished.
 */
import {
  CountryCode,
  type LinkTokenCreateResponse,
  type LinkTokenGetResponse,
  type LinkTokenGetSessionsResponse,
  Products,
} from 'plaid';
import { z } from 'zod';
import { PLAID_LINK_LANGUAGES } from '../../plaid/languages';
import {
  type EmulatorContext,
  LINK_TOKEN_LIFETIME_MS,
  SESSION_RETENTION_MS,
  SHORT_LINK_TOKEN_LIFETIME_MS,
} from '../context';
import { fail, PlaidApiError } from '../errors';
import { itemForAccessToken } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import type { LinkSessionRecord, LinkTokenAuthOptions, LinkTokenRecord, UserRecord } from '../state';
import { jsonNull, linkAccountView, linkInstitutionView } from '../views';
import { findUserById, findUserByToken, userErrors } from './users';

const LINK_LANGUAGES: readonly string[] = PLAID_LINK_LANGUAGES;

/**
 * Products that may be named in `/link/token/create`. Others in plaid's enum (balance, monitor,
 * recurring_transactions, …) are initialised implicitly and are INVALID_PRODUCT there.
 */
const LINK_PRODUCTS = new Set<string>([
  Products.Assets,
  Products.Auth,
  Products.Beacon,
  Products.Employment,
  Products.Identity,
  Products.IncomeVerification,
  Products.IdentityVerification,
  Products.Investments,
  Products.InvestmentsAuth,
  Products.Liabilities,
  Products.PaymentInitiation,
  Products.StandingOrders,
  Products.Signal,
  Products.Statements,
  Products.Transactions,
  Products.Transfer,
  Products.CraBaseReport,
  Products.CraIncomeInsights,
  Products.CraCashflowInsights,
  Products.CraLendScore,
  Products.CraPartnerInsights,
  Products.CraNetworkInsights,
  Products.CraMonitoring,
  Products.Layer,
  Products.ProtectLinkedBank,
  Products.ProtectTransactions,
]);

const productList = z.array(z.string()).nullable().optional();
const loose = z.unknown().optional();

/** Every top-level field of plaid@47's LinkTokenCreateRequest, so unknown ones can be reported. */
const linkTokenCreateSchema = z.strictObject({
  client_name: z.string().min(1),
  language: z.string().min(1),
  country_codes: z.array(z.enum(CountryCode)).min(1),
  user: z
    .looseObject({
      client_user_id: z.string().min(1).max(128),
    })
    .optional(),
  user_id: z.string().min(1).optional(),
  user_token: z.string().min(1).optional(),
  products: productList,
  required_if_supported_products: productList,
  optional_products: productList,
  additional_consented_products: productList,
  webhook: z.string().min(1).optional(),
  access_token: z.string().nullable().optional(),
  access_tokens: z.array(z.string()).optional(),
  link_customization_name: z.string().optional(),
  appearance_mode: loose,
  redirect_uri: z.string().optional(),
  android_package_name: z.string().optional(),
  institution_data: loose,
  card_switch: loose,
  account_filters: loose,
  eu_config: loose,
  institution_id: z.string().optional(),
  payment_configuration: loose,
  payment_initiation: loose,
  employment: loose,
  income_verification: loose,
  base_report: loose,
  credit_partner_insights: loose,
  cra_options: loose,
  consumer_report_permissible_purpose: loose,
  auth: z
    .strictObject({
      auth_type_select_enabled: z.boolean().optional(),
      automated_microdeposits_enabled: z.boolean().optional(),
      instant_match_enabled: z.boolean().optional(),
      same_day_microdeposits_enabled: z.boolean().optional(),
      instant_microdeposits_enabled: z.boolean().optional(),
      reroute_to_credentials: z.enum(['OFF', 'OPTIONAL', 'FORCED']).optional(),
      database_match_enabled: z.boolean().optional(),
      database_insights_enabled: z.boolean().optional(),
      flow_type: z.enum(['FLEXIBLE_AUTH']).optional(),
      sms_microdeposits_verification_enabled: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  transfer: loose,
  update: loose,
  identity_verification: loose,
  statements: loose,
  third_party_user_token: z.string().optional(),
  investments: loose,
  investments_auth: loose,
  hosted_link: loose,
  transactions: loose,
  cashflow_report: loose,
  cra_enabled: z.boolean().optional(),
  identity: loose,
  financekit_supported: z.boolean().optional(),
  enable_multi_item_link: z.boolean().optional(),
});

type LinkTokenCreateInput = z.infer<typeof linkTokenCreateSchema>;

/**
 * The `auth` object: which non-credential Auth flows the session offers. Plaid requires
 * `country_codes: ["US"]` for Instant Match, the micro-deposit flows and Database Auth, and those
 * flows serve only `auth` (or `transfer`), so one of them must be requested.
 */
function authOptions(input: LinkTokenCreateInput): LinkTokenAuthOptions | null {
  const auth = input.auth;
  if (auth == null) return null;
  const options: LinkTokenAuthOptions = {
    same_day_microdeposits_enabled: auth.same_day_microdeposits_enabled === true,
    automated_microdeposits_enabled: auth.automated_microdeposits_enabled === true,
    // Enabled by default; only an explicit false turns it off.
    instant_match_enabled: auth.instant_match_enabled !== false,
    database_auth_enabled: auth.database_insights_enabled === true || auth.database_match_enabled === true,
    auth_type_select_enabled: auth.auth_type_select_enabled === true || auth.flow_type === 'FLEXIBLE_AUTH',
    raw: { ...auth },
  };
  const named = Object.entries(auth)
    .filter(
      ([k, v]) =>
        v === true && k !== 'auth_type_select_enabled' && k !== 'sms_microdeposits_verification_enabled',
    )
    .map(([k]) => k);
  if (named.length > 0) {
    if (input.country_codes.length !== 1 || input.country_codes[0] !== CountryCode.Us) {
      throw fail.invalidField(
        `auth.${named[0]} requires country_codes to be ["US"]: Instant Match, micro-deposit flows and Database Auth are US only`,
      );
    }
    const requested = [
      ...(input.products ?? []),
      ...(input.required_if_supported_products ?? []),
      ...(input.optional_products ?? []),
    ];
    if (
      input.access_token == null &&
      !requested.includes(Products.Auth) &&
      !requested.includes(Products.Transfer)
    ) {
      throw fail.invalidField(`auth.${named[0]} requires auth or transfer among the products`);
    }
  }
  return options;
}

const linkTokenGetSchema = z.strictObject({ link_token: z.string().min(1) });

const LINK_TOKEN_FORMAT = /^link-(sandbox|development|production)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;

/** A link token of this client; anything else is Plaid's INVALID_LINK_TOKEN. */
export function findLinkToken(ctx: EmulatorContext, linkToken: string, clientId?: string): LinkTokenRecord {
  const record = LINK_TOKEN_FORMAT.test(linkToken) ? ctx.state.link_tokens[linkToken] : undefined;
  if (!record || (clientId !== undefined && record.client_id !== clientId)) {
    throw new PlaidApiError('INVALID_LINK_TOKEN');
  }
  return record;
}

/** Looks like PII (an email address or a phone number), which Plaid refuses as client_user_id. */
function looksLikePii(value: string): boolean {
  return /@/.test(value) || /^\+?[\d\s().-]{10,}$/.test(value);
}

function resolveUser(ctx: EmulatorContext, clientId: string, input: LinkTokenCreateInput): UserRecord | null {
  const clientUserId = input.user?.client_user_id;
  let byId: UserRecord | undefined;
  let byToken: UserRecord | undefined;
  if (input.user_id !== undefined) {
    byId = findUserById(ctx, clientId, input.user_id);
    if (!byId)
      throw input.user_id.startsWith('usr_') ? userErrors.unknownUserId() : userErrors.malformedUserId();
  }
  if (input.user_token !== undefined) {
    byToken = findUserByToken(ctx, clientId, input.user_token);
    if (!byToken) throw userErrors.unknownUserToken();
  }
  if (byId && byToken && byId.user_id !== byToken.user_id) {
    throw fail.invalidField('user_id and user_token do not refer to the same user');
  }
  const user = byId ?? byToken ?? null;
  if (user && clientUserId !== undefined && user.client_user_id !== clientUserId) {
    const source = byId ? 'user_id' : 'user_token';
    throw fail.invalidField(
      `user.client_user_id does not match the client_user_id of the user identified by ${source}`,
    );
  }
  return user;
}

function validateProducts(input: LinkTokenCreateInput) {
  const products = input.products ?? [];
  const requiredIfSupported = input.required_if_supported_products ?? [];
  const optional = input.optional_products ?? [];
  const additional = input.additional_consented_products ?? [];
  const all = [...products, ...requiredIfSupported, ...optional, ...additional];
  const invalid = [...new Set(all.filter((p) => !LINK_PRODUCTS.has(p)))];
  if (invalid.length > 0) {
    throw new PlaidApiError('INVALID_PRODUCT', {
      message: `client is not authorized to access the following products: ${JSON.stringify(invalid)}`,
    });
  }
  // Update mode (an access_token) may omit products; a new Item needs at least one.
  if (input.access_token == null) {
    if (input.products == null) throw fail.missingFields(['products']);
    if (products.length === 0) throw fail.invalidField('products must be a non-empty array');
  }
  const lists: Array<[string, string[]]> = [
    ['products', products],
    ['required_if_supported_products', requiredIfSupported],
    ['optional_products', optional],
    ['additional_consented_products', additional],
  ];
  for (let i = 0; i < lists.length; i++) {
    for (let j = i + 1; j < lists.length; j++) {
      const [nameA, a] = lists[i] as [string, string[]];
      const [nameB, b] = lists[j] as [string, string[]];
      const overlap = a.filter((p) => b.includes(p));
      if (overlap.length > 0) {
        throw fail.invalidField(
          `${nameA} and ${nameB} must not overlap, both contain: ${overlap.join(', ')}`,
        );
      }
    }
  }
  return { products, requiredIfSupported, optional, additional };
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export function registerLinkTokenRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/link/token/create', linkTokenCreateSchema, (input, call) => {
    if (input.user === undefined && input.user_id === undefined && input.user_token === undefined) {
      throw fail.missingFields(['user.client_user_id']);
    }
    if (!LINK_LANGUAGES.includes(input.language)) {
      throw fail.invalidField(`language must be one of: ${LINK_LANGUAGES.join(', ')}`);
    }
    const clientUserId = input.user?.client_user_id;
    if (clientUserId !== undefined && looksLikePii(clientUserId)) {
      throw fail.invalidField(
        'user.client_user_id must not contain personally identifiable information, such as an email address or phone number',
      );
    }
    if (input.webhook !== undefined && !isHttpUrl(input.webhook)) {
      throw fail.invalidField('webhook must be a valid URL');
    }
    const { products, requiredIfSupported, optional, additional } = validateProducts(input);
    const auth = authOptions(input);
    const user = resolveUser(ctx, call.clientId, input);
    // Update mode repairs an existing Item: its access token must be one Plaid knows.
    if (input.access_token != null) itemForAccessToken(ctx, call.clientId, input.access_token);
    if (input.enable_multi_item_link === true && !user) {
      throw fail.invalidField(
        'enable_multi_item_link requires a user_id (or legacy user_token) created with /user/create',
      );
    }

    const now = ctx.now();
    const record: LinkTokenRecord = {
      link_token: `link-sandbox-${ctx.rng.uuid()}`,
      client_id: call.clientId,
      created_at: now,
      expires_at:
        now +
        (input.access_token != null || input.hosted_link !== undefined
          ? SHORT_LINK_TOKEN_LIFETIME_MS
          : LINK_TOKEN_LIFETIME_MS),
      client_user_id: clientUserId ?? user?.client_user_id ?? null,
      user_id: user?.user_id ?? null,
      user_api: user?.api ?? null,
      client_name: input.client_name,
      language: input.language,
      country_codes: input.country_codes,
      products,
      required_if_supported_products: requiredIfSupported,
      optional_products: optional,
      additional_consented_products: additional,
      webhook: input.webhook ?? null,
      redirect_uri: input.redirect_uri ?? null,
      enable_multi_item_link: input.enable_multi_item_link === true,
      hosted_link: input.hosted_link !== undefined,
      access_token: input.access_token ?? null,
      account_filters: input.account_filters ?? null,
      sessions: [],
      auth,
    };
    ctx.state.link_tokens[record.link_token] = record;
    ctx.changed();
    const body: LinkTokenCreateResponse = {
      link_token: record.link_token,
      expiration: ctx.isoSeconds(record.expires_at),
      request_id: call.requestId,
      // Hosted Link: the emulator's own Link page plays the Plaid-hosted flow.
      ...(record.hosted_link
        ? {
            hosted_link_url: new URL(`/__emulator/link?link_token=${record.link_token}`, call.url).toString(),
          }
        : {}),
      ...(user?.api === 'new' ? { user_id: user.user_id } : {}),
    };
    return { body };
  });

  router.post('/link/token/get', linkTokenGetSchema, (input, call) => {
    const record = findLinkToken(ctx, input.link_token, call.clientId);
    const now = ctx.now();
    // Sessions in progress are listed; finished ones for six hours after they ended.
    const visible = record.sessions.filter(
      (s) => s.finished_at === null || now < s.finished_at + SESSION_RETENTION_MS,
    );
    const body: LinkTokenGetResponse = {
      link_token: record.link_token,
      created_at: ctx.isoSeconds(record.created_at),
      expiration: ctx.isoSeconds(record.expires_at),
      link_sessions: visible.map((s) => sessionView(ctx, s)),
      metadata: {
        initial_products: record.products as Products[],
        webhook: record.webhook,
        country_codes: record.country_codes as CountryCode[],
        language: record.language,
        redirect_uri: record.redirect_uri,
        client_name: record.client_name,
      },
      ...(record.user_api === 'new' && record.user_id ? { user_id: record.user_id } : {}),
      request_id: call.requestId,
    };
    return { body };
  });
}

function sessionView(ctx: EmulatorContext, s: LinkSessionRecord): LinkTokenGetSessionsResponse {
  const itemAddResults = s.item_ids.map((itemId, i) => {
    const item = ctx.state.items[itemId];
    if (!item) throw new Error(`session ${s.link_session_id} refers to unknown item ${itemId}`);
    return {
      public_token: s.public_tokens[i] as string,
      accounts: item.accounts.map(linkAccountView),
      institution: linkInstitutionView(item),
    };
  });
  const first = itemAddResults[0];
  const exit =
    s.status === 'EXITED'
      ? {
          error: null,
          // The user left from institution select or the "add another account?" pane.
          metadata: {
            institution: null,
            link_session_id: s.link_session_id,
            request_id: s.exit_request_id ?? undefined,
          },
        }
      : null;
  return {
    link_session_id: s.link_session_id,
    started_at: ctx.iso(s.started_at),
    finished_at: s.finished_at === null ? jsonNull<string>() : ctx.iso(s.finished_at),
    // Deprecated single-Item view: Plaid fills it with the first Item only.
    on_success:
      s.status === 'SUCCESS' && first
        ? {
            public_token: first.public_token,
            metadata: {
              institution: first.institution,
              accounts: first.accounts,
              link_session_id: s.link_session_id,
              transfer_status: null,
            },
          }
        : null,
    on_exit: exit,
    exit,
    events: s.events,
    results: {
      item_add_results: itemAddResults,
      cra_item_add_results: [],
      cra_update_results: [],
      bank_income_results: [],
      payroll_income_results: [],
      document_income_results: null,
    },
  };
}
