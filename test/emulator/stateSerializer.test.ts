/**
 * The cached serialisation of the state file says exactly what JSON.stringify would, after every
 * kind of change the emulator makes to Items and link tokens.
 */
import { describe, expect, it } from 'vitest';
import type { ItemRecord, LinkSessionRecord, LinkTokenRecord } from '../../src/emulator/state';
import { emptyState } from '../../src/emulator/state';
import { StateSerializer } from '../../src/emulator/stateSerializer';

function item(id: string): ItemRecord {
  return {
    item_id: id,
    client_id: 'c',
    institution_id: 'ins_109508',
    institution_name: 'First Platypus Bank',
    webhook: null,
    products: ['auth'],
    consented_products: ['auth'],
    available_products: [],
    billed_products: ['auth'],
    accounts: [],
    created_at: 1,
    link_token: null,
    link_session_id: null,
    user_id: null,
    removed_at: null,
  };
}

function token(id: string): LinkTokenRecord {
  return {
    link_token: id,
    client_id: 'c',
    created_at: 1,
    expires_at: 2,
    client_user_id: 'u',
    user_id: null,
    user_api: null,
    client_name: 'x',
    language: 'en',
    country_codes: ['US'],
    products: ['auth'],
    required_if_supported_products: [],
    optional_products: [],
    additional_consented_products: [],
    webhook: null,
    redirect_uri: null,
    enable_multi_item_link: true,
    hosted_link: false,
    access_token: null,
    account_filters: null,
    sessions: [],
  };
}

const event = (name: string) => ({ event_name: name, timestamp: 't', event_id: name }) as never;

describe('emulator: state serialisation', () => {
  it('matches JSON.stringify after every mutation of Items and sessions', () => {
    const state = emptyState(1);
    const serializer = new StateSerializer();
    const same = () =>
      expect(JSON.parse(serializer.serialize(state))).toEqual(JSON.parse(JSON.stringify(state)));

    state.items.a = item('a');
    state.link_tokens.t = token('t');
    same();
    (state.items.a as ItemRecord).error = 'ITEM_LOGIN_REQUIRED';
    same();
    (state.items.a as ItemRecord).error = null;
    same();
    (state.items.a as ItemRecord).removed_at = 5;
    same();
    state.items.b = item('b');
    same();

    const session: LinkSessionRecord = {
      link_session_id: 's',
      started_at: 1,
      finished_at: null,
      status: null,
      item_ids: [],
      public_tokens: [],
      events: [event('OPEN')],
      exit_request_id: null,
    };
    (state.link_tokens.t as LinkTokenRecord).sessions.push(session);
    same();
    session.events.push(event('SELECT_INSTITUTION'), event('SUBMIT_CREDENTIALS'));
    session.item_ids.push('b');
    session.public_tokens.push('public-sandbox-x');
    same();
    session.finished_at = 9;
    session.status = 'EXITED';
    session.exit_request_id = 'r';
    session.events.push(event('EXIT'));
    same();
    state.clock_offset_ms = 1234;
    state.webhooks.push({ id: 'w' } as never);
    same();
  });
});
