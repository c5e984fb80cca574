/**
 * The official `plaid` client drives a whole Multi-Item Link flow against the emulator over HTTP.
 */
import type { PlaidApi } from 'plaid';
import { ProcessorTokenCreateRequestProcessorEnum } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { completeLink, multiItemLinkToken, plaidFailure, type Receiver, startReceiver } from './helpers';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

describe('emulator: Multi-Item Link with the official client', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    started = await startEmulator({ port: 0, seed: 42, webhookRetryDelaysMs: [20, 50] });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
    await receiver?.close();
  });

  it('creates users idempotently with the new user API', async () => {
    const first = await plaid.userCreate({ client_user_id: 'idem-user' });
    const again = await plaid.userCreate({ client_user_id: 'idem-user' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(first.data.user_id).toMatch(/^usr_[0-9A-Za-z]{14}$/);
    expect(first.data).not.toHaveProperty('user_token');
    expect(again.data.user_id).toBe(first.data.user_id);
    expect(first.data.request_id).not.toBe(again.data.request_id);
  });

  it('runs user → link token → Link → webhooks → /link/token/get → exchange → item, auth, processor', async () => {
    const { userId, linkToken, expiration } = await multiItemLinkToken(plaid, {
      clientUserId: 'flow-user',
      webhook: receiver.url,
    });
    expect(linkToken).toMatch(new RegExp(`^link-sandbox-${UUID}$`));
    const hoursLeft = (Date.parse(expiration) - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(3.99);
    expect(hoursLeft).toBeLessThanOrEqual(4);

    const institutions = ['ins_109508', 'ins_109509', 'ins_linkflow_no_auth'];
    const done = await completeLink(started.url, { link_token: linkToken, institutions });
    expect(done.public_tokens).toHaveLength(3);
    for (const t of done.public_tokens) expect(t).toMatch(new RegExp(`^public-sandbox-${UUID}$`));
    expect(done.items.map((i) => i.institution.institution_id)).toEqual(institutions);

    // Webhooks: ITEM_ADD_RESULT per Item, in order, then SESSION_FINISHED.
    const hooks = await receiver.waitFor(4);
    expect(hooks.map((h) => h.body.webhook_code)).toEqual([
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'SESSION_FINISHED',
    ]);
    expect(hooks.slice(0, 3).map((h) => h.body.public_token)).toEqual(done.public_tokens);
    for (const h of hooks) {
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.raw.toString('utf8')).toBe(JSON.stringify(h.body, null, 2));
    }
    expect(hooks[0]?.body).toEqual({
      webhook_type: 'LINK',
      webhook_code: 'ITEM_ADD_RESULT',
      link_session_id: done.link_session_id,
      link_token: linkToken,
      public_token: done.public_tokens[0],
      environment: 'sandbox',
    });
    expect(hooks[3]?.body).toEqual({
      webhook_type: 'LINK',
      webhook_code: 'SESSION_FINISHED',
      status: 'SUCCESS',
      link_session_id: done.link_session_id,
      link_token: linkToken,
      public_tokens: done.public_tokens,
      user_id: userId,
      environment: 'sandbox',
    });

    // /link/token/get shows the session with every Item, and the deprecated on_success (first only).
    const got = (await plaid.linkTokenGet({ link_token: linkToken })).data;
    expect(got.link_token).toBe(linkToken);
    expect(got.user_id).toBe(userId);
    expect(got.metadata).toMatchObject({
      initial_products: ['transactions'],
      webhook: receiver.url,
      country_codes: ['US'],
      language: 'en',
      client_name: 'linkflow tests',
    });
    expect(got.link_sessions).toHaveLength(1);
    const session = got.link_sessions?.[0];
    expect(session?.link_session_id).toBe(done.link_session_id);
    expect(session?.started_at).toBeTruthy();
    expect(session?.finished_at).toBeTruthy();
    const results = session?.results?.item_add_results ?? [];
    expect(results.map((r) => r.public_token)).toEqual(done.public_tokens);
    expect(results.map((r) => r.institution?.institution_id)).toEqual(institutions);
    expect(results[0]?.institution?.name).toBe('First Platypus Bank');
    // Plaid Sandbox's user_good accounts, masks 0000 to 8888.
    expect(results[0]?.accounts.map((a) => a.subtype)).toEqual([
      'checking',
      'savings',
      'cd',
      'credit card',
      'money market',
      'ira',
      '401k',
      'student',
      'mortgage',
    ]);
    expect(results[0]?.accounts.map((a) => a.mask)).toEqual([
      '0000',
      '1111',
      '2222',
      '3333',
      '4444',
      '5555',
      '6666',
      '7777',
      '8888',
    ]);
    for (const a of results.flatMap((r) => r.accounts)) {
      expect(a.id).toMatch(/^[0-9A-Za-z]{37}$/);
      expect(a).toHaveProperty('name');
      expect(a).toHaveProperty('mask');
      expect(a).toHaveProperty('type');
      expect(a).toHaveProperty('verification_status', null);
    }
    expect(session?.on_success?.public_token).toBe(done.public_tokens[0]);
    expect(session?.on_success?.metadata?.institution?.institution_id).toBe('ins_109508');
    expect(session?.on_success?.metadata?.accounts).toEqual(results[0]?.accounts);
    expect(session?.exit).toBeNull();

    // Exchange every public token.
    const exchanged = [];
    for (const publicToken of done.public_tokens) {
      const res = (await plaid.itemPublicTokenExchange({ public_token: publicToken })).data;
      expect(res.access_token).toMatch(new RegExp(`^access-sandbox-${UUID}$`));
      expect(res.item_id).toMatch(/^[0-9A-Za-z]{37}$/);
      exchanged.push(res);
    }
    expect(exchanged.map((e) => e.item_id)).toEqual(done.items.map((i) => i.item_id));

    // /item/get: auth where the institution supports it (optional_products asked for it).
    const items = [];
    for (const { access_token } of exchanged) items.push((await plaid.itemGet({ access_token })).data.item);
    expect(items.map((i) => i.institution_id)).toEqual(institutions);
    expect(items.map((i) => i.institution_name)).toEqual([
      'First Platypus Bank',
      'First Gingham Credit Union',
      'Seersucker Credit Union',
    ]);
    expect(items.map((i) => i.products?.includes('auth' as never))).toEqual([true, true, false]);
    for (const item of items) {
      expect(item.products).toContain('transactions');
      expect(item.webhook).toBe(receiver.url);
      expect(item.error).toBeNull();
      expect(item.consent_expiration_time).toBeNull();
      expect(item.update_type).toBe('background');
      expect(item.billed_products).toEqual(item.products);
      expect(item.available_products).not.toContain('transactions');
    }

    // /accounts/get: balances.
    const accounts = (await plaid.accountsGet({ access_token: exchanged[0]?.access_token as string })).data;
    expect(accounts.item.item_id).toBe(exchanged[0]?.item_id);
    expect(
      accounts.accounts.map((a) => [a.name, a.subtype, a.balances.available, a.balances.current]),
    ).toEqual([
      ['Plaid Checking', 'checking', 100, 110],
      ['Plaid Saving', 'savings', 200, 210],
      ['Plaid CD', 'cd', null, 1000],
      ['Plaid Credit Card', 'credit card', null, 410],
      ['Plaid Money Market', 'money market', 43200, 43200],
      ['Plaid IRA', 'ira', null, 320.76],
      ['Plaid 401k', '401k', null, 23631.9805],
      ['Plaid Student Loan', 'student', null, 65262],
      ['Plaid Mortgage', 'mortgage', null, 56302.06],
    ]);
    expect(accounts.accounts[3]?.balances.limit).toBe(2000);
    expect(accounts.accounts[0]?.balances.iso_currency_code).toBe('USD');

    // /auth/get: ACH numbers for checking and savings only.
    const auth = (await plaid.authGet({ access_token: exchanged[0]?.access_token as string })).data;
    expect(auth.accounts.map((a) => a.subtype)).toEqual(['checking', 'savings']);
    expect(auth.numbers.ach.map((n) => n.account_id)).toEqual(auth.accounts.map((a) => a.account_id));
    for (const n of auth.numbers.ach) {
      expect(n.routing).toMatch(/^\d{9}$/);
      expect(n.wire_routing).toMatch(/^\d{9}$/);
      expect(n.account).toMatch(/^\d+$/);
    }
    // Plaid Sandbox's account and routing numbers.
    expect(auth.numbers.ach.map((n) => [n.account, n.routing, n.wire_routing])).toEqual([
      ['1111222233330000', '011401533', '021000021'],
      ['1111222233331111', '011401533', '021000021'],
    ]);
    const gingham = (await plaid.authGet({ access_token: exchanged[1]?.access_token as string })).data;
    expect(gingham.accounts.map((a) => a.subtype)).toEqual(['checking', 'savings']);
    const tattersall = await plaidFailure(
      plaid.authGet({ access_token: exchanged[2]?.access_token as string }),
    );
    expect(tattersall.status).toBe(400);
    expect(tattersall.body).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'PRODUCTS_NOT_SUPPORTED' });

    // Processor token for the checking account; not for the credit card.
    const checking = auth.accounts[0]?.account_id as string;
    const processor = (
      await plaid.processorTokenCreate({
        access_token: exchanged[0]?.access_token as string,
        account_id: checking,
        processor: ProcessorTokenCreateRequestProcessorEnum.Dwolla,
      })
    ).data;
    expect(processor.processor_token).toMatch(new RegExp(`^processor-sandbox-${UUID}$`));
    const card = accounts.accounts[2]?.account_id as string;
    const cardFailure = await plaidFailure(
      plaid.processorTokenCreate({
        access_token: exchanged[0]?.access_token as string,
        account_id: card,
        processor: ProcessorTokenCreateRequestProcessorEnum.Dwolla,
      }),
    );
    expect(cardFailure.body).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' });
    const badProcessor = await plaidFailure(
      plaid.processorTokenCreate({
        access_token: exchanged[0]?.access_token as string,
        account_id: checking,
        processor: 'not_a_processor' as ProcessorTokenCreateRequestProcessorEnum,
      }),
    );
    expect(badProcessor.body).toMatchObject({ error_code: 'INVALID_FIELD' });
    expect(badProcessor.body.error_message).toContain('processor');
    const foreignAccount = await plaidFailure(
      plaid.processorTokenCreate({
        access_token: exchanged[0]?.access_token as string,
        account_id: gingham.accounts[0]?.account_id as string,
        processor: ProcessorTokenCreateRequestProcessorEnum.Dwolla,
      }),
    );
    expect(foreignAccount.body).toMatchObject({
      error_type: 'INVALID_INPUT',
      error_code: 'INVALID_ACCOUNT_ID',
    });

    // The state shows every token exchanged exactly once and every webhook delivered once.
    await started.emulator.idle();
    const state = started.emulator.state();
    for (const t of done.public_tokens) expect(state.exchanges[t]).toBe(1);
    const sessionHooks = state.webhooks.filter((w) => w.link_session_id === done.link_session_id);
    expect(sessionHooks).toHaveLength(4);
    for (const w of sessionHooks)
      expect(w).toMatchObject({ attempts: 1, delivered: true, link_token: linkToken });
    expect(state.items).toBeGreaterThanOrEqual(3);
  });

  it('picks the first three eligible institutions when none are named', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'default-user' });
    const done = await completeLink(started.url, { link_token: linkToken });
    expect(done.items.map((i) => i.institution.institution_id)).toEqual([
      'ins_109508',
      'ins_109509',
      'ins_linkflow_no_auth',
    ]);
  });

  it('records an exited session without Items', async () => {
    const before = receiver.received.length;
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'exit-user',
      webhook: receiver.url,
    });
    const done = await completeLink(started.url, { link_token: linkToken, status: 'EXITED' });
    expect(done.public_tokens).toEqual([]);
    const hooks = await receiver.waitFor(before + 1);
    expect(hooks[before]?.body).toMatchObject({
      webhook_code: 'SESSION_FINISHED',
      status: 'EXITED',
      public_tokens: [],
      link_token: linkToken,
    });
    const session = (await plaid.linkTokenGet({ link_token: linkToken })).data.link_sessions?.[0];
    expect(session?.results?.item_add_results).toEqual([]);
    expect(session?.on_success).toBeNull();
    expect(session?.exit).toMatchObject({ error: null, metadata: { link_session_id: done.link_session_id } });
    expect(session?.events?.map((e) => e.event_name)).toEqual(['OPEN', 'EXIT']);
  });

  it('creates Sandbox Items without Link through /sandbox/public_token/create', async () => {
    const res = (
      await plaid.sandboxPublicTokenCreate({
        institution_id: 'ins_linkflow_zero_balance',
        initial_products: ['auth' as never],
      })
    ).data;
    const { access_token } = (await plaid.itemPublicTokenExchange({ public_token: res.public_token })).data;
    const auth = (await plaid.authGet({ access_token })).data;
    expect(auth.accounts.map((a) => a.subtype)).toEqual(['checking']);
    await plaid.itemRemove({ access_token });
    const gone = await plaidFailure(plaid.itemGet({ access_token }));
    expect(gone.body).toMatchObject({ error_type: 'INVALID_INPUT', error_code: 'INVALID_ACCESS_TOKEN' });
  });
});
