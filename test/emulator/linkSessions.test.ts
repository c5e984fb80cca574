/**
 * Link sessions that unfold over time, driven step by step through the control routes and read
 * back with the official client: a session in progress, Items added minutes apart (each public
 * token ages from its own add), several sessions per link token, the clock closing windows.
 */
import type { PlaidApi } from 'plaid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { control, multiItemLinkToken, plaidFailure, type Receiver, startReceiver } from './helpers';

const MINUTE = 60_000;

describe('emulator: Link sessions that unfold over time', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    started = await startEmulator({ port: 0, seed: 7, webhookRetryDelaysMs: [20, 50] });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
    await receiver?.close();
  });

  beforeEach(async () => {
    await started.emulator.idle();
    started.emulator.reset();
    receiver.received.length = 0;
  });

  const open = async (linkToken: string) => {
    const res = await control(started.url, '/__emulator/link/sessions', { link_token: linkToken });
    expect(res.status).toBe(200);
    return res.body.link_session_id as string;
  };
  const add = (sessionId: string, institutionId: string, extra: Record<string, unknown> = {}) =>
    control(started.url, `/__emulator/link/sessions/${sessionId}/items`, {
      institution_id: institutionId,
      ...extra,
    });
  const finish = (sessionId: string, status: 'SUCCESS' | 'EXITED', extra: Record<string, unknown> = {}) =>
    control(started.url, `/__emulator/link/sessions/${sessionId}/finish`, { status, ...extra });
  const advance = (ms: number) => control(started.url, '/__emulator/clock', { advance_ms: ms });
  const sessions = async (linkToken: string) =>
    (await plaid.linkTokenGet({ link_token: linkToken })).data.link_sessions ?? [];

  it('lists a session in progress, its Items as they are added, and finishes it', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'unfold', webhook: receiver.url });
    const sessionId = await open(linkToken);

    let listed = await sessions(linkToken);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      link_session_id: sessionId,
      finished_at: null,
      on_success: null,
      exit: null,
    });
    expect(listed[0]?.results?.item_add_results).toEqual([]);

    const first = await add(sessionId, 'ins_109508');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      public_token: expect.stringMatching(/^public-sandbox-/),
      item_id: expect.any(String),
      institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
    });
    expect(first.body.accounts.length).toBeGreaterThan(0);
    // ITEM_ADD_RESULT goes out for this Item now, not at the end of the session.
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toMatchObject({
      webhook_code: 'ITEM_ADD_RESULT',
      link_session_id: sessionId,
      public_token: first.body.public_token,
    });

    listed = await sessions(linkToken);
    expect(listed[0]?.finished_at).toBeNull();
    expect(listed[0]?.results?.item_add_results.map((r) => r.public_token)).toEqual([
      first.body.public_token,
    ]);

    await advance(10 * MINUTE);
    const second = await add(sessionId, 'ins_109509');
    const done = await finish(sessionId, 'SUCCESS');
    expect(done.status).toBe(200);
    expect(done.body.public_tokens).toEqual([first.body.public_token, second.body.public_token]);

    const hooks = await receiver.waitFor(3);
    expect(hooks.map((h) => h.body.webhook_code)).toEqual([
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'SESSION_FINISHED',
    ]);
    expect(hooks[2]?.body).toMatchObject({ status: 'SUCCESS', public_tokens: done.body.public_tokens });

    listed = await sessions(linkToken);
    expect(listed[0]?.finished_at).toEqual(expect.any(String));
    const took = Date.parse(listed[0]?.finished_at as string) - Date.parse(listed[0]?.started_at as string);
    expect(took).toBeGreaterThanOrEqual(10 * MINUTE);
    expect(took).toBeLessThan(11 * MINUTE);
    expect(listed[0]?.on_success?.public_token).toBe(first.body.public_token);
  });

  it('ages each public token from its own add: 30 minutes, then INVALID_PUBLIC_TOKEN', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'aging' });
    const sessionId = await open(linkToken);
    const early = (await add(sessionId, 'ins_109508')).body.public_token as string;
    await advance(20 * MINUTE);
    const late = (await add(sessionId, 'ins_109509')).body.public_token as string;
    await advance(11 * MINUTE);
    await finish(sessionId, 'SUCCESS');

    const expired = await plaidFailure(plaid.itemPublicTokenExchange({ public_token: early }));
    expect(expired.status).toBe(400);
    expect(expired.body).toMatchObject({ error_type: 'INVALID_INPUT', error_code: 'INVALID_PUBLIC_TOKEN' });
    expect(expired.body.error_message).toMatch(/expired/);
    expect((await plaid.itemPublicTokenExchange({ public_token: late })).data.access_token).toMatch(
      /^access-/,
    );
  });

  it('keeps several sessions per link token: EXITED, then SUCCESS, each with its own results', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'reopen', webhook: receiver.url });
    const exited = await open(linkToken);
    const exitRes = await finish(exited, 'EXITED');
    expect(exitRes.body.public_tokens).toEqual([]);
    await advance(5 * MINUTE);
    const succeeded = await open(linkToken);
    const token = (await add(succeeded, 'ins_109511')).body.public_token;
    await finish(succeeded, 'SUCCESS');

    const listed = await sessions(linkToken);
    expect(listed.map((s) => s.link_session_id)).toEqual([exited, succeeded]);
    expect(listed[0]).toMatchObject({ on_success: null, exit: { error: null } });
    expect(listed[0]?.results?.item_add_results).toEqual([]);
    expect(listed[1]?.results?.item_add_results.map((r) => r.public_token)).toEqual([token]);

    const hooks = await receiver.waitFor(3);
    expect(hooks.map((h) => [h.body.webhook_code, h.body.link_session_id, h.body.status])).toEqual([
      ['SESSION_FINISHED', exited, 'EXITED'],
      ['ITEM_ADD_RESULT', succeeded, undefined],
      ['SESSION_FINISHED', succeeded, 'SUCCESS'],
    ]);
  });

  it('an EXITED session keeps the Items added before leaving; their tokens are in SESSION_FINISHED', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'exit-after',
      webhook: receiver.url,
    });
    const sessionId = await open(linkToken);
    const token = (await add(sessionId, 'ins_109508')).body.public_token;
    const res = await finish(sessionId, 'EXITED');
    expect(res.body.public_tokens).toEqual([token]);
    const hooks = await receiver.waitFor(2);
    expect(hooks[1]?.body).toMatchObject({
      webhook_code: 'SESSION_FINISHED',
      status: 'EXITED',
      public_tokens: [token],
    });
  });

  it('lists a finished session for six hours after it ended, and a running one however long it runs', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'window' });
    const running = await open(linkToken);
    const ended = await open(linkToken);
    await add(ended, 'ins_109508');
    await finish(ended, 'SUCCESS');
    await advance(6 * 60 * MINUTE - 1000);
    expect((await sessions(linkToken)).map((s) => s.link_session_id)).toEqual([running, ended]);
    await advance(1000);
    expect((await sessions(linkToken)).map((s) => s.link_session_id)).toEqual([running]);
  });

  it('refuses to open Link or add an Item once the link token expired (4 hours)', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'expiry' });
    const sessionId = await open(linkToken);
    await advance(4 * 60 * MINUTE);
    const opened = await control(started.url, '/__emulator/link/sessions', { link_token: linkToken });
    expect(opened.status).toBe(400);
    expect(opened.body.error_code).toBe('INVALID_LINK_TOKEN');
    const added = await add(sessionId, 'ins_109508');
    expect(added.status).toBe(400);
    expect(added.body.error_code).toBe('INVALID_LINK_TOKEN');
    // The user can still leave; the session then ends EXITED with nothing.
    expect((await finish(sessionId, 'EXITED')).body.public_tokens).toEqual([]);
  });

  it('refuses what Link would not let a user do, changing nothing', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'refusals' });
    const sessionId = await open(linkToken);
    expect((await finish(sessionId, 'SUCCESS')).body.error_code).toBe('INVALID_FIELD');
    expect((await add(sessionId, 'ins_nope')).body.error_code).toBe('INVALID_INSTITUTION');
    expect((await add('no-such-session', 'ins_109508')).body).toMatchObject({
      error_code: 'INVALID_FIELD',
      error_message: expect.stringMatching(/no-such-session/),
    });
    expect(
      (await control(started.url, `/__emulator/link/sessions/${sessionId}/finish`, { status: 'DONE' }))
        .status,
    ).toBe(400);
    await add(sessionId, 'ins_109508');
    await finish(sessionId, 'SUCCESS');
    const again = await add(sessionId, 'ins_109509');
    expect(again.body).toMatchObject({
      error_code: 'INVALID_FIELD',
      error_message: expect.stringMatching(/finished/),
    });
    expect((await finish(sessionId, 'EXITED')).body.error_code).toBe('INVALID_FIELD');
    expect(started.emulator.state().items).toBe(1);
  });

  it('adds at most one Item per session without Multi-Item Link', async () => {
    const user = (await plaid.userCreate({ client_user_id: 'single' })).data;
    const { link_token } = (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'single' },
        user_id: user.user_id,
        client_name: 'tests',
        language: 'en',
        country_codes: ['US' as never],
        products: ['auth' as never],
      })
    ).data;
    const sessionId = await open(link_token);
    expect((await add(sessionId, 'ins_109508')).status).toBe(200);
    const second = await add(sessionId, 'ins_109509');
    expect(second.body).toMatchObject({
      error_code: 'INVALID_FIELD',
      error_message: expect.stringMatching(/Multi-Item/),
    });
  });

  it('the /link/complete shortcut is the same machinery: one session, an event trail, webhooks in order', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'shortcut',
      webhook: receiver.url,
    });
    const res = await control(started.url, '/__emulator/link/complete', {
      link_token: linkToken,
      institutions: ['ins_109508', 'ins_109509'],
    });
    expect(res.status).toBe(200);
    const [listed] = await sessions(linkToken);
    expect(listed?.link_session_id).toBe(res.body.link_session_id);
    expect(listed?.finished_at).toEqual(expect.any(String));
    expect(listed?.events?.map((e) => e.event_name)).toEqual([
      'OPEN',
      'SELECT_INSTITUTION',
      'SUBMIT_CREDENTIALS',
      'SELECT_INSTITUTION',
      'SUBMIT_CREDENTIALS',
      'HANDOFF',
    ]);
    const hooks = await receiver.waitFor(3);
    expect(hooks.map((h) => h.body.webhook_code)).toEqual([
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'SESSION_FINISHED',
    ]);
  });

  it('moves the clock forward only, and says where it is', async () => {
    const before = Date.now();
    const res = await advance(90 * MINUTE);
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.now)).toBeGreaterThanOrEqual(before + 90 * MINUTE);
    expect((await control(started.url, '/__emulator/clock', { advance_ms: -1 })).status).toBe(400);
  });
});
