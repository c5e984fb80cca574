/**
 * Link sessions that unfold over time, as real Multi-Item Link does: the user opens Link with a
 * link token (a session appears in `/link/token/get` with `finished_at: null`), adds Items one by
 * one minutes apart (each gets its own public token, whose 30 minutes start at its own add, and its
 * own `ITEM_ADD_RESULT`), then finishes (`SESSION_FINISHED`, SUCCESS or EXITED). A link token may
 * open any number of sessions while it is valid (Link re-opened after an exit, or re-initialised
 * after an OAuth redirect); each is listed separately.
 *
 * The functions here change the state and return the webhook bodies to send; the caller schedules
 * them (per call, or all at once for the `/__emulator/link/complete` shortcut).
 */
import type { ItemAddResultWebhook, LinkEvent, LinkSessionFinishedWebhook } from 'plaid';
import { LinkEventName, WebhookEnvironmentValues } from 'plaid';
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
import { type FixtureInstitution, findInstitution, unsupportedRequiredProducts } from './fixtures';
import { newRequestId } from './ids';
import { createItem, invalidateOlderItemsOfLogin, issuePublicToken } from './items';
import { findLinkToken } from './routes/linkTokens';
import {
  type LinkSessionRecord,
  type LinkTokenRecord,
  pendingDelivery,
  type WebhookDeliveryRecord,
} from './state';

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

export type LinkWebhookBody = ItemAddResultWebhook | LinkSessionFinishedWebhook;

export interface AddedItem {
  item_id: string;
  public_token: string;
  institution: { institution_id: string; name: string };
  accounts: Array<{ account_id: string; name: string; mask: string; type: string; subtype: string }>;
}

export function event(
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

/** A link token Link can still be opened with (or add an Item with): known, unexpired, not update mode. */
export function usableLinkToken(ctx: EmulatorContext, linkToken: string): LinkTokenRecord {
  const token = findLinkToken(ctx, linkToken);
  // Plaid's documented answer for an expired token is the plain INVALID_LINK_TOKEN.
  if (ctx.now() >= token.expires_at) throw new PlaidApiError('INVALID_LINK_TOKEN');
  if (token.access_token !== null) {
    throw fail.invalidField('completing an update-mode link_token (access_token) is not emulated');
  }
  return token;
}

/** The user opens Link: a new session on the token, listed at once with `finished_at: null`. */
export function openSession(ctx: EmulatorContext, token: LinkTokenRecord): LinkSessionRecord {
  const now = ctx.now();
  const session: LinkSessionRecord = {
    link_session_id: ctx.rng.uuid(),
    started_at: now,
    finished_at: null,
    status: null,
    item_ids: [],
    public_tokens: [],
    events: [event(ctx, LinkEventName.Open, now)],
    exit_request_id: null,
  };
  token.sessions.push(session);
  ctx.changed();
  ctx.log('link session opened', { link_token: token.link_token, link_session_id: session.link_session_id });
  return session;
}

/** The session with this id and the token it belongs to; INVALID_FIELD when unknown. */
export function findSession(
  ctx: EmulatorContext,
  linkSessionId: string,
): { token: LinkTokenRecord; session: LinkSessionRecord } {
  for (const token of Object.values(ctx.state.link_tokens)) {
    const session = token.sessions.find((s) => s.link_session_id === linkSessionId);
    if (session) return { token, session };
  }
  throw fail.invalidField(`link_session_id ${linkSessionId} is not a Link session this emulator knows`);
}

/** Institutions this token lets the user pick: Link hides those lacking a required product. */
export function pickInstitution(token: LinkTokenRecord, institutionId: string): FixtureInstitution {
  const inst = findInstitution(institutionId);
  if (!inst) {
    throw new PlaidApiError('INVALID_INSTITUTION', {
      message: `invalid institution_id provided: ${institutionId}`,
    });
  }
  const missing = unsupportedRequiredProducts(inst, token.products);
  if (missing.length > 0) {
    // Link shows "Connectivity not supported" for such institutions; the user cannot add them.
    throw new PlaidApiError('PRODUCTS_NOT_SUPPORTED', {
      message: `${inst.name} (${institutionId}) does not support the required products of this link_token: ${missing.join(', ')}`,
    });
  }
  return inst;
}

function requireOpen(session: LinkSessionRecord): void {
  if (session.finished_at !== null) {
    throw fail.invalidField(`Link session ${session.link_session_id} already finished (${session.status})`);
  }
}

/**
 * One Item added in an open session, now: its public token lives 30 minutes from now, and the
 * session's `results.item_add_results` shows it at once. Returns the `ITEM_ADD_RESULT` body.
 */
export function addItem(
  ctx: EmulatorContext,
  token: LinkTokenRecord,
  session: LinkSessionRecord,
  inst: FixtureInstitution,
): { added: AddedItem; webhook: ItemAddResultWebhook } {
  requireOpen(session);
  // Link dies with its token: an Item cannot be added once the link token expired.
  usableLinkToken(ctx, token.link_token);
  if (session.item_ids.length >= 1 && !token.enable_multi_item_link) {
    throw fail.invalidField(
      'this link_token is not enabled for Multi-Item Link: a session adds at most one institution',
    );
  }
  const now = ctx.now();
  const meta = { institution_id: inst.institution_id, institution_name: inst.name };
  session.events.push(event(ctx, LinkEventName.SelectInstitution, now, meta));
  session.events.push(event(ctx, LinkEventName.SubmitCredentials, now, meta));
  const item = createItem(ctx, {
    clientId: token.client_id,
    institution: inst,
    requestedProducts: [
      ...token.products,
      ...token.required_if_supported_products,
      ...token.optional_products,
    ],
    webhook: token.webhook,
    linkToken: token.link_token,
    linkSessionId: session.link_session_id,
    userId: token.user_id,
  });
  invalidateOlderItemsOfLogin(ctx, item, inst);
  const publicToken = issuePublicToken(ctx, item);
  session.item_ids.push(item.item_id);
  session.public_tokens.push(publicToken);
  ctx.changed();
  ctx.log('link session item added', {
    link_token: token.link_token,
    link_session_id: session.link_session_id,
    institution_id: inst.institution_id,
  });
  return {
    added: {
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
    },
    webhook: {
      webhook_type: 'LINK',
      webhook_code: 'ITEM_ADD_RESULT',
      link_session_id: session.link_session_id,
      link_token: token.link_token,
      public_token: publicToken,
      environment: WebhookEnvironmentValues.Sandbox,
    },
  };
}

/**
 * The user finishes: SUCCESS (at least one Item) or EXITED (with whatever Items were added before
 * leaving; their public tokens are valid and listed, as Plaid lists them). Returns `SESSION_FINISHED`.
 */
export function finishSession(
  ctx: EmulatorContext,
  token: LinkTokenRecord,
  session: LinkSessionRecord,
  status: 'SUCCESS' | 'EXITED',
): LinkSessionFinishedWebhook {
  requireOpen(session);
  if (status === 'SUCCESS' && session.item_ids.length === 0) {
    throw fail.invalidField(
      'a SUCCESS session needs at least one Item; add one first, or finish with status EXITED',
    );
  }
  const now = ctx.now();
  session.finished_at = now;
  session.status = status;
  session.events.push(event(ctx, status === 'SUCCESS' ? LinkEventName.Handoff : LinkEventName.Exit, now));
  if (status === 'EXITED') session.exit_request_id = newRequestId();
  ctx.changed();
  ctx.log('link session finished', {
    link_token: token.link_token,
    link_session_id: session.link_session_id,
    status,
    items: session.item_ids.length,
  });
  return {
    webhook_type: 'LINK',
    webhook_code: 'SESSION_FINISHED',
    status,
    link_session_id: session.link_session_id,
    link_token: token.link_token,
    public_tokens: [...session.public_tokens],
    ...(token.user_id ? { user_id: token.user_id } : {}),
    environment: WebhookEnvironmentValues.Sandbox,
  };
}

/**
 * Records LINK webhooks for delivery. Plaid sends them for Multi-Item Link and Hosted Link sessions
 * only, and only when the token has a webhook URL. Deliveries start once the call that produced them
 * is durable (`ctx.afterCommit`). Returns how many deliveries were scheduled (not dropped).
 */
export function scheduleLinkWebhooks(
  ctx: EmulatorContext,
  token: LinkTokenRecord,
  bodies: readonly LinkWebhookBody[],
  faults: WebhookFaults,
): number {
  if (!token.webhook || !(token.enable_multi_item_link || token.hosted_link)) return 0;
  const copies = Math.max(1, faults.duplicate ?? 1);
  let records: WebhookDeliveryRecord[] = [];
  for (const body of bodies) {
    for (let i = 0; i < copies; i++) {
      records.push(
        pendingDelivery(ctx.rng.uuid(), {
          url: token.webhook,
          body: { ...body },
          webhook_code: body.webhook_code,
          link_token: token.link_token,
          link_session_id: body.link_session_id,
        }),
      );
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
  ctx.changed();
  const delayMs = faults.delay_ms ?? 0;
  ctx.afterCommit(() => ctx.webhooks.startSequence(records, delayMs));
  return records.filter((r) => !r.dropped).length;
}
