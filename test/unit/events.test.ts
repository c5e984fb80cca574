import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, itemRemovedEvent, sessionEvents } from '../../src/workflows/events';
import type { ItemView, SessionView } from '../../src/workflows/types';

const AT = '2026-12-03T10:00:00.000Z';
const SESSION = 'link-sandbox-00000000-0000-4000-8000-000000000000';

function view(over: Partial<SessionView> = {}): SessionView {
  return {
    session_id: SESSION,
    client_user_id: 'user-1',
    user_id: 'usr_1',
    status: 'linking',
    created_at: '2026-12-03T09:00:00.000Z',
    finished_at: null,
    link_session_ids: ['ls-1'],
    items: [],
    eligible_accounts: [],
    ineligible_accounts: [],
    pending_accounts: [],
    payment_account: null,
    polling: { active: false, polls: 0, last_polled_at: null },
    errors: [],
    ...over,
  };
}

const item = (id: string | null, status: ItemView['status'] = 'exchanged'): ItemView => ({
  item_id: id,
  institution: { institution_id: 'ins_1', name: 'First Platypus Bank' },
  accounts: [
    { account_id: `${id}-acc`, name: 'Checking', mask: '0000', type: 'depository', subtype: 'checking' },
  ],
  status,
  ...(status === 'failed' && { error: { code: 'INVALID_PUBLIC_TOKEN', message: 'expired' } }),
});

describe('sessionEvents (pure)', () => {
  it('announces each newly exchanged Item once, with a deterministic id', () => {
    const one = view({ items: [item('item-a')] });
    const two = view({ items: [item('item-a'), item('item-b')] });
    const first = sessionEvents(view(), one, AT);
    expect(first).toEqual([
      {
        id: `${SESSION}:item.exchanged:item-a`,
        type: 'item.exchanged',
        timestamp: AT,
        data: expect.objectContaining({ session_id: SESSION, client_user_id: 'user-1', item_id: 'item-a' }),
      },
    ]);
    expect(sessionEvents(one, two, AT).map((e) => e.id)).toEqual([`${SESSION}:item.exchanged:item-b`]);
    expect(sessionEvents(two, two, AT)).toEqual([]);
  });

  it('announces failed Items (by position when they have no item id) and a later success of the same Item', () => {
    const failed = view({ items: [item(null, 'failed'), item('item-b', 'failed')] });
    expect(sessionEvents(view(), failed, AT).map((e) => [e.type, e.id])).toEqual([
      ['item.failed', `${SESSION}:item.failed:#0`],
      ['item.failed', `${SESSION}:item.failed:item-b`],
    ]);
    const recovered = view({ items: [item(null, 'failed'), item('item-b')] });
    expect(sessionEvents(failed, recovered, AT).map((e) => e.id)).toEqual([
      `${SESSION}:item.exchanged:item-b`,
    ]);
    expect(sessionEvents(view(), failed, AT)[0]?.data.error).toEqual({
      code: 'INVALID_PUBLIC_TOKEN',
      message: 'expired',
    });
  });

  it('announces a duplicate Item as item.duplicate naming the original, never as a failure', () => {
    const dup: ItemView = { ...item(null, 'duplicate'), duplicate_of: 'item-earlier' };
    const events = sessionEvents(view(), view({ items: [item('item-a'), dup] }), AT);
    expect(events.map((e) => [e.type, e.id])).toEqual([
      ['item.exchanged', `${SESSION}:item.exchanged:item-a`],
      ['item.duplicate', `${SESSION}:item.duplicate:#1`],
    ]);
    expect(events[1]?.data).toMatchObject({ status: 'duplicate', duplicate_of: 'item-earlier' });
  });

  it('announces the statuses the customer acts on, once each, after the Items', () => {
    const items = [item('item-a')];
    const awaiting = view({ status: 'awaiting_payment_account', items });
    const events = sessionEvents(view({ status: 'exchanging' }), awaiting, AT);
    expect(events.map((e) => e.type)).toEqual(['item.exchanged', 'link_session.awaiting_payment_account']);
    expect(sessionEvents(awaiting, awaiting, AT)).toEqual([]);
    const payment_account = {
      account_id: 'item-a-acc',
      item_id: 'item-a',
      product: 'auth' as const,
      result: {},
    };
    const completed = view({ status: 'completed', items, payment_account });
    expect(sessionEvents(awaiting, completed, AT).map((e) => [e.type, e.id])).toEqual([
      ['payment_account.set_up', `${SESSION}:payment_account.set_up`],
      ['link_session.completed', `${SESSION}:link_session.completed`],
    ]);
    for (const status of ['exited', 'expired', 'failed'] as const) {
      expect(sessionEvents(view(), view({ status }), AT).map((e) => e.type)).toEqual([
        `link_session.${status}`,
      ]);
    }
    for (const status of ['waiting_for_user', 'linking', 'exchanging'] as const) {
      expect(sessionEvents(view(), view({ status }), AT)).toEqual([]);
    }
  });

  it('from nothing announced (a new run), re-derives everything under the same ids', () => {
    const items = [item('item-a'), item('item-b')];
    const completed = view({ status: 'completed', items });
    const stepwise = [
      ...sessionEvents(view(), view({ status: 'exchanging', items: [items[0] as ItemView] }), AT),
      ...sessionEvents(view({ status: 'exchanging', items: [items[0] as ItemView] }), completed, AT),
    ].map((e) => e.id);
    expect(sessionEvents(null, completed, AT).map((e) => e.id)).toEqual(stepwise);
  });

  it('never carries a secret, only known types', () => {
    const completed = view({
      status: 'completed',
      items: [item('item-a')],
      payment_account: {
        account_id: 'acc',
        item_id: 'item-a',
        product: 'processor',
        result: { processor: 'dwolla' },
      },
    });
    const events = sessionEvents(null, completed, AT);
    const text = JSON.stringify(events);
    expect(text).not.toMatch(/access-|public-|processor-sandbox|access_token|processor_token/);
    for (const e of events) expect(EVENT_TYPES).toContain(e.type);
  });

  it('item.removed has the id of the Item and its session', () => {
    const e = itemRemovedEvent({
      item_id: 'item-a',
      session_id: SESSION,
      client_user_id: 'user-1',
      institution: { institution_id: 'ins_1', name: 'First Platypus Bank' },
      removed_at: AT,
    });
    expect(e).toMatchObject({ id: `${SESSION}:item.removed:item-a`, type: 'item.removed', timestamp: AT });
    expect(e.data).toMatchObject({ item_id: 'item-a', status: 'removed' });
  });
});
