/**
 * Outbound events (issue 14), decided by a pure function of the session view before and after a
 * change, so the session workflow emits them deterministically. An event's id is derived from what
 * it is about (`<session_id>:<type>[:<item>]`): the same event decided twice — a replay, a
 * continue-as-new that starts from an empty "before", a retried batch — has the same id, which is
 * also its delivery workflow's id and its `webhook-id`, so it is delivered once.
 * No event carries a secret: only ids and public view fields.
 */
import type { ItemView, SessionStatus, SessionView } from './types';

export const EVENT_TYPES = [
  'item.exchanged',
  'item.failed',
  /** Not exchanged: the user already has this Item (`duplicate_of`); not a failure. */
  'item.duplicate',
  'item.removed',
  'link_session.awaiting_payment_account',
  'link_session.completed',
  'link_session.exited',
  'link_session.expired',
  'link_session.failed',
  'payment_account.set_up',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** What is POSTed (`{ type, timestamp, data }`) plus its id (the `webhook-id` header). */
export interface OutboundEvent {
  id: string;
  type: EventType;
  /** ISO time the event happened (workflow time for session events). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** The session statuses that are announced, and the event each one becomes. */
const STATUS_EVENTS: Partial<Record<SessionStatus, EventType>> = {
  awaiting_payment_account: 'link_session.awaiting_payment_account',
  completed: 'link_session.completed',
  exited: 'link_session.exited',
  expired: 'link_session.expired',
  failed: 'link_session.failed',
};

export const eventId = (sessionId: string, type: EventType, subject?: string): string =>
  subject ? `${sessionId}:${type}:${subject}` : `${sessionId}:${type}`;

/** An Item's identity in the view: its item id, or its position while it has none (a failed exchange). */
const itemKey = (item: ItemView, index: number) => item.item_id ?? `#${index}`;

function itemData(view: SessionView, item: ItemView): Record<string, unknown> {
  return {
    session_id: view.session_id,
    client_user_id: view.client_user_id,
    user_id: view.user_id,
    item_id: item.item_id,
    institution: item.institution,
    accounts: item.accounts.map((a) => ({
      account_id: a.account_id,
      name: a.name,
      mask: a.mask,
      type: a.type,
      subtype: a.subtype,
    })),
    status: item.status,
    ...(item.error && { error: { code: item.error.code, message: item.error.message } }),
    ...(item.duplicate_of && { duplicate_of: item.duplicate_of }),
    ...(item.replaces && { replaces: item.replaces }),
  };
}

function sessionData(view: SessionView): Record<string, unknown> {
  return {
    session_id: view.session_id,
    client_user_id: view.client_user_id,
    user_id: view.user_id,
    status: view.status,
    created_at: view.created_at,
    finished_at: view.finished_at,
    items: view.items.map((i) => ({
      item_id: i.item_id,
      institution: i.institution,
      status: i.status,
      ...(i.error && { error: { code: i.error.code, message: i.error.message } }),
    })),
    eligible_accounts: view.eligible_accounts,
    payment_account: view.payment_account,
    errors: view.errors.map((e) => ({ code: e.code, message: e.message })),
  };
}

/**
 * The events a change of the session view announces, in a stable order: Items first (in view
 * order), then the payment account, then the session's new status. `before` null means "nothing
 * announced yet" (a new run): everything the view already shows is announced again, under the
 * same ids.
 */
export function sessionEvents(before: SessionView | null, after: SessionView, at: string): OutboundEvent[] {
  const events: OutboundEvent[] = [];
  const event = (type: EventType, data: Record<string, unknown>, subject?: string) =>
    events.push({ id: eventId(after.session_id, type, subject), type, timestamp: at, data });

  const previously = new Map<string, ItemView['status']>();
  before?.items.forEach((item, i) => {
    previously.set(itemKey(item, i), item.status);
  });
  after.items.forEach((item, i) => {
    const key = itemKey(item, i);
    if (previously.get(key) === item.status) return;
    if (item.status === 'exchanged') event('item.exchanged', itemData(after, item), key);
    else if (item.status === 'duplicate') event('item.duplicate', itemData(after, item), key);
    else event('item.failed', itemData(after, item), key);
  });

  if (after.payment_account && !before?.payment_account) {
    event('payment_account.set_up', {
      session_id: after.session_id,
      client_user_id: after.client_user_id,
      user_id: after.user_id,
      ...after.payment_account,
    });
  }

  const statusEvent = STATUS_EVENTS[after.status];
  if (statusEvent && before?.status !== after.status) event(statusEvent, sessionData(after));
  return events;
}

/** `item.removed`, emitted by `DELETE /items/:item_id` (not by a session). */
export function itemRemovedEvent(item: {
  item_id: string;
  session_id: string;
  client_user_id: string;
  institution: { institution_id: string | null; name: string | null };
  removed_at: string;
}): OutboundEvent {
  return {
    id: eventId(item.session_id, 'item.removed', item.item_id),
    type: 'item.removed',
    timestamp: item.removed_at,
    data: {
      session_id: item.session_id,
      client_user_id: item.client_user_id,
      item_id: item.item_id,
      institution: item.institution,
      status: 'removed',
      removed_at: item.removed_at,
    },
  };
}
