/**
 * Auth flows without Instant Auth, for a single-Item Link whose token enabled them in its `auth`
 * object (`/link/token/create`):
 *  - `same_day_microdeposits`: the user types routing and account numbers; no institution
 *    connection, so the Item's `institution_id` / `institution_name` are null (as Plaid's Item
 *    schema says for Same-Day Items) and the one account is `pending_manual_verification`. Plaid
 *    sends $0.01 with a three-letter code in its description (here: `GET /__emulator/state`).
 *  - `automated_microdeposits`: the user logs in at an institution, then confirms the account's
 *    numbers; the account is `pending_automatic_verification` until Plaid verifies it (AUTH webhook).
 *  - `database_auth`: numbers typed and checked against Plaid's data: `database_insights_pass`.
 * Multi-Item Link cannot use these flows; they are US only and serve `auth` / `transfer`.
 *
 * Then the verification step of Same-Day Micro-deposits: Link opened in update mode with the
 * Item's access token, where the user types the code.
 */
import { LinkEventName, Products } from 'plaid';
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
import { CATALOGUE, type FixtureInstitution, findInstitution, supportsAuth } from './fixtures';
import { derivedBase62, derivedDigits, PLAID_OBJECT_ID_LENGTH } from './ids';
import { issuePublicToken, itemForAccessToken } from './items';
import {
  event,
  finishSession,
  type LinkWebhookBody,
  openSession,
  scheduleLinkWebhooks,
  type WebhookFaults,
} from './linkSessions';
import { findLinkToken } from './routes/linkTokens';
import type {
  AccountRecord,
  ItemRecord,
  LinkSessionRecord,
  LinkTokenRecord,
  VerificationStatus,
} from './state';
import {
  MANUAL_VERIFICATION_ATTEMPTS,
  type ManualVerificationResult,
  newMicrodepositCode,
  submitVerificationCode,
} from './verification';

export type AuthFlow = 'instant' | 'same_day_microdeposits' | 'automated_microdeposits' | 'database_auth';

export interface TypedAccount {
  routing?: string;
  account?: string;
  name?: string;
  subtype?: 'checking' | 'savings';
}

export interface AuthFlowRequest {
  link_token: string;
  auth_flow: Exclude<AuthFlow, 'instant'>;
  institutions?: string[];
  account?: TypedAccount;
  webhooks?: WebhookFaults;
}

export interface AuthFlowResult {
  link_session_id: string;
  status: 'SUCCESS';
  auth_flow: AuthFlowRequest['auth_flow'];
  public_tokens: string[];
  items: Array<{
    item_id: string;
    public_token: string;
    institution: { institution_id: string; name: string } | null;
    accounts: Array<{
      account_id: string;
      name: string;
      mask: string;
      type: string;
      subtype: string;
      verification_status: VerificationStatus | null;
    }>;
  }>;
  webhooks_scheduled: number;
}

/** Plaid Sandbox's routing number, the default when the caller does not type one. */
const DEFAULT_ROUTING = '011401533';
const DEFAULT_WIRE_ROUTING = '021000021';

/** A link token Link can be opened with now: known and unexpired (update mode allowed). */
export function liveLinkToken(ctx: EmulatorContext, linkToken: string): LinkTokenRecord {
  const token = findLinkToken(ctx, linkToken);
  if (ctx.now() >= token.expires_at) throw new PlaidApiError('INVALID_LINK_TOKEN');
  return token;
}

/** Whether the token lets the user take this flow; the reason when not. */
export function flowRefusal(token: LinkTokenRecord, flow: AuthFlowRequest['auth_flow']): string | null {
  if (token.access_token !== null) {
    return 'this link_token is in update mode (access_token): it verifies an existing Item and cannot add one with a non-credential Auth flow';
  }
  if (token.enable_multi_item_link) {
    return `Multi-Item Link cannot use non-credential Auth flows (${flow}): use a single-Item link_token`;
  }
  if (token.country_codes.length !== 1 || token.country_codes[0] !== 'US') {
    return `${flow} is available only with country_codes ["US"]`;
  }
  const auth = token.auth ?? null;
  const enabled =
    flow === 'same_day_microdeposits'
      ? auth?.same_day_microdeposits_enabled
      : flow === 'automated_microdeposits'
        ? auth?.automated_microdeposits_enabled
        : auth?.database_auth_enabled;
  if (!enabled) {
    const field =
      flow === 'same_day_microdeposits'
        ? 'auth.same_day_microdeposits_enabled'
        : flow === 'automated_microdeposits'
          ? 'auth.automated_microdeposits_enabled'
          : 'auth.database_insights_enabled';
    return `this link_token did not enable ${flow}: create it with ${field}: true`;
  }
  const requested = [...token.products, ...token.required_if_supported_products, ...token.optional_products];
  if (!requested.includes(Products.Auth) && !requested.includes(Products.Transfer)) {
    return `${flow} serves auth or transfer, and this link_token requests neither`;
  }
  if (flow !== 'automated_microdeposits') {
    const others = token.products.filter((p) => p !== Products.Auth && p !== Products.Transfer);
    if (others.length > 0) {
      return `${flow} creates Items without an institution connection, which serve only auth or transfer; this link_token requires ${others.join(', ')}`;
    }
  }
  return null;
}

/** Non-credential flows the token offers (for the Link page). */
export function enabledManualFlows(token: LinkTokenRecord): Array<AuthFlowRequest['auth_flow']> {
  const flows: Array<AuthFlowRequest['auth_flow']> = [
    'same_day_microdeposits',
    'automated_microdeposits',
    'database_auth',
  ];
  return flows.filter((f) => flowRefusal(token, f) === null);
}

/** What the user typed, checked as Link checks it; `account` defaults to digits derived from the Item. */
function typedNumbers(typed: TypedAccount) {
  const routing = typed.routing ?? DEFAULT_ROUTING;
  if (!/^\d{9}$/.test(routing))
    throw fail.invalidField('account.routing must be a 9-digit ABA routing number');
  if (typed.account !== undefined && !/^\d{4,17}$/.test(typed.account)) {
    throw fail.invalidField('account.account must be 4 to 17 digits');
  }
  if (typed.name !== undefined && typed.name.trim() === '') {
    throw fail.invalidField('account.name must be a non-empty string');
  }
  const subtype = typed.subtype ?? 'checking';
  return {
    routing,
    subtype,
    name: typed.name?.trim() ?? null,
    account: (ctx: EmulatorContext, itemId: string) =>
      typed.account ?? derivedDigits([ctx.state.seed, itemId, 'typed'], 10),
  };
}

function automatedInstitution(req: AuthFlowRequest): FixtureInstitution {
  const ids = req.institutions ?? [];
  if (ids.length > 1)
    throw fail.invalidField('a non-credential Auth flow adds exactly one Item: give at most one institution');
  if (ids[0] !== undefined) {
    const inst = findInstitution(ids[0]);
    if (!inst)
      throw new PlaidApiError('INVALID_INSTITUTION', {
        message: `invalid institution_id provided: ${ids[0]}`,
      });
    return inst;
  }
  // Automated Micro-deposits serve institutions without Instant Auth.
  return CATALOGUE.find((i) => !supportsAuth(i)) ?? (CATALOGUE[0] as FixtureInstitution);
}

/** The whole Link session of a non-credential Auth flow: one Item, one account, finished SUCCESS. */
export function completeAuthFlow(ctx: EmulatorContext, req: AuthFlowRequest): AuthFlowResult {
  const token = liveLinkToken(ctx, req.link_token);
  const refusal = flowRefusal(token, req.auth_flow);
  if (refusal) throw fail.invalidField(refusal);
  if (req.auth_flow !== 'automated_microdeposits' && req.institutions !== undefined) {
    throw fail.invalidField(
      `${req.auth_flow} has no institution to pick: the user types the account numbers`,
    );
  }
  const inst = req.auth_flow === 'automated_microdeposits' ? automatedInstitution(req) : null;
  // Validate the typed numbers before anything changes (a refused call changes nothing).
  const typedInput = typedNumbers(req.account ?? {});
  const itemId = ctx.rng.base62(PLAID_OBJECT_ID_LENGTH);
  const typed = { ...typedInput, account: typedInput.account(ctx, itemId) };

  const session = openSession(ctx, token);
  const now = ctx.now();
  if (inst) {
    const meta = { institution_id: inst.institution_id, institution_name: inst.name };
    session.events.push(event(ctx, LinkEventName.SelectInstitution, now, meta));
    session.events.push(event(ctx, LinkEventName.SubmitCredentials, now, meta));
  }
  session.events.push(event(ctx, LinkEventName.SubmitRoutingNumber, now));
  session.events.push(event(ctx, LinkEventName.SubmitAccountNumber, now));

  const status: VerificationStatus =
    req.auth_flow === 'same_day_microdeposits'
      ? 'pending_manual_verification'
      : req.auth_flow === 'automated_microdeposits'
        ? 'pending_automatic_verification'
        : 'database_insights_pass';
  const accountId = derivedBase62([ctx.state.seed, itemId, 0], PLAID_OBJECT_ID_LENGTH);
  const label = typed.subtype === 'savings' ? 'Savings' : 'Checking';
  const fixture = inst?.accounts.find((a) => a.subtype === typed.subtype);
  const mask = typed.account.slice(-4);
  const account: AccountRecord = {
    account_id: accountId,
    // The institution's own name for a logged-in account; what the user typed otherwise.
    name: fixture?.name ?? typed.name ?? `${label} ...${mask}`,
    official_name: fixture?.official_name ?? null,
    mask,
    type: 'depository',
    subtype: typed.subtype,
    // No institution connection, no balances (Plaid returns none for manual entry).
    balances: fixture
      ? { ...fixture.balances }
      : { available: null, current: null, limit: null, iso_currency_code: 'USD' },
    ach: { account: typed.account, routing: typed.routing, wire_routing: DEFAULT_WIRE_ROUTING },
    verification_status: status,
    verification_name: typed.name,
  };
  const requested = [...token.products, ...token.required_if_supported_products, ...token.optional_products];
  const products = [Products.Auth, Products.Transfer].filter((p) => requested.includes(p));
  const item: ItemRecord = {
    item_id: itemId,
    client_id: token.client_id,
    institution_id: inst?.institution_id ?? null,
    institution_name: inst?.name ?? null,
    webhook: token.webhook,
    products,
    consented_products: [...products],
    available_products: [],
    billed_products: [...products],
    accounts: [account],
    created_at: now,
    link_token: token.link_token,
    link_session_id: session.link_session_id,
    user_id: token.user_id,
    removed_at: null,
    auth_method:
      req.auth_flow === 'same_day_microdeposits'
        ? 'SAME_DAY_MICRODEPOSITS'
        : req.auth_flow === 'automated_microdeposits'
          ? 'AUTOMATED_MICRODEPOSITS'
          : 'DATABASE_INSIGHTS',
  };
  ctx.state.items[itemId] = item;
  if (req.auth_flow !== 'database_auth') {
    ctx.state.microdeposits.push({
      item_id: itemId,
      account_id: accountId,
      flow: req.auth_flow,
      code: req.auth_flow === 'same_day_microdeposits' ? newMicrodepositCode(ctx) : null,
      attempts_left: req.auth_flow === 'same_day_microdeposits' ? MANUAL_VERIFICATION_ATTEMPTS : 0,
      verification_status: status,
      sent_at: now,
    });
  }
  const publicToken = issuePublicToken(ctx, item);
  session.item_ids.push(itemId);
  session.public_tokens.push(publicToken);
  const bodies: LinkWebhookBody[] = [
    {
      webhook_type: 'LINK',
      webhook_code: 'ITEM_ADD_RESULT',
      link_session_id: session.link_session_id,
      link_token: token.link_token,
      public_token: publicToken,
      environment: 'sandbox' as LinkWebhookBody['environment'],
    },
    finishSession(ctx, token, session, 'SUCCESS'),
  ];
  const scheduled = scheduleLinkWebhooks(ctx, token, bodies, req.webhooks ?? {});
  ctx.changed();
  ctx.log('link auth flow completed', {
    link_token: token.link_token,
    auth_flow: req.auth_flow,
    item_id: itemId,
  });
  return {
    link_session_id: session.link_session_id,
    status: 'SUCCESS',
    auth_flow: req.auth_flow,
    public_tokens: [publicToken],
    items: [
      {
        item_id: itemId,
        public_token: publicToken,
        institution: inst ? { institution_id: inst.institution_id, name: inst.name } : null,
        accounts: [
          {
            account_id: accountId,
            name: account.name,
            mask,
            type: account.type,
            subtype: account.subtype,
            verification_status: status,
          },
        ],
      },
    ],
    webhooks_scheduled: scheduled,
  };
}

export interface VerificationOutcome extends ManualVerificationResult {
  link_session_id: string;
  status: 'SUCCESS' | 'EXITED' | null;
  public_token: string | null;
}

/** The Item an update-mode token opens Link for, when it awaits (or failed) manual verification. */
export function itemAwaitingCode(ctx: EmulatorContext, token: LinkTokenRecord): ItemRecord | null {
  if (token.access_token === null) return null;
  let item: ItemRecord;
  try {
    item = itemForAccessToken(ctx, token.client_id, token.access_token);
  } catch {
    return null;
  }
  return item.accounts.some((a) => a.verification_status === 'pending_manual_verification') ? item : null;
}

/**
 * The user types the micro-deposit code in Link opened in update mode. The session is listed in
 * `/link/token/get`; it finishes SUCCESS (with a public token, as update mode hands one back) on the
 * right code, EXITED once the attempts are used up; a wrong code before that leaves it open.
 * Answers an error (after committing the attempt) on a wrong code.
 */
export function verifyInLink(
  ctx: EmulatorContext,
  req: { link_token: string; verification_code: string; webhooks?: WebhookFaults },
): { outcome: VerificationOutcome; error: PlaidApiError | null } {
  const token = liveLinkToken(ctx, req.link_token);
  if (token.access_token === null) {
    throw fail.invalidField(
      'verification_code needs an update-mode link_token: create one with the access_token of the Item awaiting manual verification',
    );
  }
  const item = itemForAccessToken(ctx, token.client_id, token.access_token);
  if (
    !item.accounts.some(
      (a) =>
        a.verification_status === 'pending_manual_verification' ||
        a.verification_status === 'verification_failed',
    )
  ) {
    throw fail.invalidField(`Item ${item.item_id} has no account awaiting manual micro-deposit verification`);
  }
  const { result, error } = submitVerificationCode(ctx, item, req.verification_code);
  const session: LinkSessionRecord =
    token.sessions.find((s) => s.finished_at === null) ?? openSession(ctx, token);
  let publicToken: string | null = null;
  if (result.verification_status === 'manually_verified') {
    publicToken = issuePublicToken(ctx, item);
    session.item_ids.push(item.item_id);
    session.public_tokens.push(publicToken);
    const finished = finishSession(ctx, token, session, 'SUCCESS');
    scheduleLinkWebhooks(ctx, token, [finished], req.webhooks ?? {});
  } else if (result.verification_status === 'verification_failed' && session.finished_at === null) {
    const finished = finishSession(ctx, token, session, 'EXITED');
    scheduleLinkWebhooks(ctx, token, [finished], req.webhooks ?? {});
  }
  ctx.changed();
  return {
    outcome: {
      ...result,
      link_session_id: session.link_session_id,
      status: session.status,
      public_token: publicToken,
    },
    error,
  };
}
