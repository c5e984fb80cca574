/**
 * The end user going through Link with a link token: one Item per chosen institution, each with a
 * single-use public token; then the session's LINK webhooks — `ITEM_ADD_RESULT` per Item and
 * `SESSION_FINISHED` — which Plaid sends for Multi-Item Link and Hosted Link sessions.
 * Used by `POST /__emulator/link/complete` and, through it, by the Link page.
 */

import type { ItemAddResultWebhook, LinkEvent } from 'plaid';
import { LinkEventName, type LinkSessionFinishedWebhook, WebhookEnvironmentValues } from 'plaid';
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
import { CATALOGUE, type FixtureInstitution, findInstitution, unsupportedRequiredProducts } from './fixtures';
import { newRequestId } from './ids';
import { createItem, issuePublicToken } from './items';
import { findLinkToken } from './routes/linkTokens';
import type { LinkSessionRecord, LinkTokenRecord, WebhookDeliveryRecord } from './state';

export interface WebhookFaults {
  /** true drops every webhook; a number in [0, 1] drops each delivery with that probability. */
  drop?: boolean | number;
  /** Each webhook is delivered this many times in total. */
  duplicate?: number;
  /** Randomise the order (seeded). */
  shuffle?: boolean;
  /** Wait this long before each delivery. */
  delay_ms?: number;
}

export interface CompleteLinkRequest {
  link_token: string;
  institutions?: string[];
  status?: 'SUCCESS' | 'EXITED';
  webhooks?: WebhookFaults;
}

export interface CompleteLinkResult {
  link_session_id: string;
  status: 'SUCCESS' | 'EXITED';
  public_tokens: string[];
  items: Array<{
    item_id: string;
    public_token: string;
    institution: { institution_id: string; name: string };
    accounts: Array<{ account_id: string; name: string; mask: string; type: string; subtype: string }>;
  }>;
  webhooks_scheduled: number;
}

/** Institutions this token lets the user pick: Link hides those lacking a required product. */
export function eligibleInstitutions(token: LinkTokenRecord): FixtureInstitution[] {
  return CATALOGUE.filter((inst) => unsupportedRequiredProducts(inst, token.products).length === 0);
}

/** What the user would pick without being told: the first three the token allows (one without Multi-Item). */
export function defaultInstitutions(token: LinkTokenRecord): string[] {
  return eligibleInstitutions(token)
    .slice(0, token.enable_multi_item_link ? 3 : 1)
    .map((i) => i.institution_id);
}

function chooseInstitutions(
  token: LinkTokenRecord,
  req: CompleteLinkRequest,
  status: string,
): FixtureInstitution[] {
  const ids = req.institutions ?? (status === 'EXITED' ? [] : defaultInstitutions(token));
  if (ids.length > 1 && !token.enable_multi_item_link) {
    throw fail.invalidField(
      'this link_token is not enabled for Multi-Item Link: choose at most one institution',
    );
  }
  return ids.map((id) => {
    const inst = findInstitution(id);
    if (!inst)
      throw new PlaidApiError('INVALID_INSTITUTION', { message: `invalid institution_id provided: ${id}` });
    const missing = unsupportedRequiredProducts(inst, token.products);
    if (missing.length > 0) {
      // Link shows "Connectivity not supported" for such institutions; the user cannot add them.
      throw new PlaidApiError('PRODUCTS_NOT_SUPPORTED', {
        message: `${inst.name} (${id}) does not support the required products of this link_token: ${missing.join(', ')}`,
      });
    }
    return inst;
  });
}

function event(
  ctx: EmulatorContext,
  name: LinkEventName,
  at: number,
  meta: LinkEvent['event_metadata'] = {},
): LinkEvent {
  return {
    event_name: name,
    timestamp: ctx.iso(at),
    event_id: ctx.rng.uuid(),
    event_metadata: { request_id: newRequestId(), ...meta },
  };
}

export function completeLink(ctx: EmulatorContext, req: CompleteLinkRequest): CompleteLinkResult {
  const token = findLinkToken(ctx, req.link_token);
  const now = ctx.now();
  if (now >= token.expires_at) throw new PlaidApiError('INVALID_LINK_TOKEN');
  if (token.access_token !== null) {
    throw fail.invalidField('completing an update-mode link_token (access_token) is not emulated');
  }
  const status = req.status ?? 'SUCCESS';
  const institutions = chooseInstitutions(token, req, status);
  if (status === 'SUCCESS' && institutions.length === 0) {
    throw fail.invalidField(
      'a SUCCESS session needs at least one institution; use status EXITED to leave without one',
    );
  }

  const linkSessionId = ctx.rng.uuid();
  const requested = [...token.products, ...token.required_if_supported_products, ...token.optional_products];
  const events: LinkEvent[] = [event(ctx, LinkEventName.Open, now)];
  const session: LinkSessionRecord = {
    link_session_id: linkSessionId,
    started_at: now,
    finished_at: now,
    status,
    item_ids: [],
    public_tokens: [],
    events,
    exit_request_id: status === 'EXITED' ? newRequestId() : null,
  };
  const items: CompleteLinkResult['items'] = [];
  for (const inst of institutions) {
    const meta = { institution_id: inst.institution_id, institution_name: inst.name };
    events.push(event(ctx, LinkEventName.SelectInstitution, now, meta));
    events.push(event(ctx, LinkEventName.SubmitCredentials, now, meta));
    const item = createItem(ctx, {
      clientId: token.client_id,
      institution: inst,
      requestedProducts: requested,
      webhook: token.webhook,
      linkToken: token.link_token,
      linkSessionId,
      userId: token.user_id,
    });
    const publicToken = issuePublicToken(ctx, item);
    events.push(event(ctx, LinkEventName.Handoff, now, meta));
    session.item_ids.push(item.item_id);
    session.public_tokens.push(publicToken);
    items.push({
      item_id: item.item_id,
      public_token: publicToken,
      institution: { institution_id: inst.institution_id, name: inst.name },
      accounts: item.accounts.map((a) => ({
        account_id: a.account_id,
        name: a.name,
        mask: a.mask,
        type: a.type,
        subtype: a.subtype,
      })),
    });
  }
  if (status === 'EXITED') events.push(event(ctx, LinkEventName.Exit, now));
  token.sessions.push(session);

  const scheduled = scheduleSessionWebhooks(ctx, token, session, req.webhooks ?? {});
  ctx.changed();
  ctx.log('link session finished', {
    link_token: token.link_token,
    link_session_id: linkSessionId,
    status,
    items: items.length,
  });
  return {
    link_session_id: linkSessionId,
    status,
    public_tokens: [...session.public_tokens],
    items,
    webhooks_scheduled: scheduled,
  };
}

/**
 * Plaid sends LINK webhooks for Multi-Item Link and Hosted Link sessions only, and only when the
 * token has a webhook URL. Returns how many deliveries were scheduled.
 */
function scheduleSessionWebhooks(
  ctx: EmulatorContext,
  token: LinkTokenRecord,
  session: LinkSessionRecord,
  faults: WebhookFaults,
): number {
  if (!token.webhook || !(token.enable_multi_item_link || token.hosted_link)) return 0;
  const bodies: Array<ItemAddResultWebhook | LinkSessionFinishedWebhook> = session.public_tokens.map(
    (publicToken): ItemAddResultWebhook => ({
      webhook_type: 'LINK',
      webhook_code: 'ITEM_ADD_RESULT',
      link_session_id: session.link_session_id,
      link_token: token.link_token,
      public_token: publicToken,
      environment: WebhookEnvironmentValues.Sandbox,
    }),
  );
  const finished: LinkSessionFinishedWebhook = {
    webhook_type: 'LINK',
    webhook_code: 'SESSION_FINISHED',
    status: session.status,
    link_session_id: session.link_session_id,
    link_token: token.link_token,
    public_tokens: [...session.public_tokens],
    ...(token.user_id ? { user_id: token.user_id } : {}),
    environment: WebhookEnvironmentValues.Sandbox,
  };
  bodies.push(finished);

  const copies = Math.max(1, faults.duplicate ?? 1);
  let records: WebhookDeliveryRecord[] = [];
  for (const body of bodies) {
    for (let i = 0; i < copies; i++) {
      records.push({
        id: ctx.rng.uuid(),
        url: token.webhook,
        body: { ...body },
        webhook_code: body.webhook_code,
        link_token: token.link_token,
        link_session_id: session.link_session_id,
        attempts: 0,
        delivered: false,
        dropped: false,
        failed: false,
        next_attempt_at: Date.now(),
        last_status: null,
        last_error: null,
        delivered_at: null,
      });
    }
  }
  if (faults.shuffle) records = ctx.rng.shuffle(records);
  for (const r of records) {
    const drop = faults.drop === true || (typeof faults.drop === 'number' && ctx.rng.next() < faults.drop);
    if (drop) {
      r.dropped = true;
      r.next_attempt_at = null;
    }
  }
  ctx.state.webhooks.push(...records);
  ctx.webhooks.startSequence(records, faults.delay_ms ?? 0);
  return records.filter((r) => !r.dropped).length;
}
