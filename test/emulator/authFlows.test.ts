/**
 * Non-credential Auth flows through the official client and the control routes: Same-Day
 * Micro-deposits (manual code, three attempts), Automated Micro-deposits (AUTH webhooks, the
 * 7-day window, /sandbox/item/set_verification_status), Database Auth, and what Plaid refuses
 * while an account is unverified.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ACHClass,
  CountryCode,
  type LinkTokenCreateRequest,
  type PlaidApi,
  ProcessorTokenCreateRequestProcessorEnum,
  Products,
  SandboxItemSetVerificationStatusRequestVerificationStatusEnum as SetStatus,
  TransferNetwork,
  TransferType,
} from 'plaid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import {
  control,
  type Json,
  multiItemLinkToken,
  plaidFailure,
  type Receiver,
  startReceiver,
  verifyPlaidWebhook,
} from './helpers';

const DAY = 24 * 3_600_000;

describe('emulator: non-credential Auth flows and micro-deposit verification', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    started = await startEmulator({ port: 0, seed: 15, webhookRetryDelaysMs: [20] });
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

  async function paymentToken(
    auth: LinkTokenCreateRequest['auth'],
    extra: Partial<LinkTokenCreateRequest> = {},
  ) {
    return (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'payer-1' },
        client_name: 'linkflow tests',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
        webhook: receiver.url,
        auth,
        ...extra,
      })
    ).data.link_token;
  }

  async function complete(body: Record<string, unknown>) {
    return control(started.url, '/__emulator/link/complete', body);
  }

  async function state(): Promise<Json> {
    return (await control(started.url, '/__emulator/state')).body;
  }

  /** A Same-Day Item, exchanged; its code from the emulator's state. */
  async function sameDayItem(account: Record<string, unknown> = {}) {
    const linkToken = await paymentToken({ same_day_microdeposits_enabled: true });
    const res = await complete({ link_token: linkToken, auth_flow: 'same_day_microdeposits', account });
    expect(res.status).toBe(200);
    const added = res.body.items[0];
    const { access_token } = (await plaid.itemPublicTokenExchange({ public_token: added.public_token })).data;
    const deposit = (await state()).microdeposits.find((m: Json) => m.item_id === added.item_id);
    return { linkToken, added, accessToken: access_token, code: deposit.code as string, result: res.body };
  }

  async function updateToken(accessToken: string) {
    return (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'payer-1' },
        client_name: 'linkflow tests',
        language: 'en',
        country_codes: [CountryCode.Us],
        access_token: accessToken,
      })
    ).data.link_token;
  }

  it('validates the auth object of /link/token/create like Plaid', async () => {
    const notUs = await plaidFailure(
      paymentToken(
        { same_day_microdeposits_enabled: true },
        { country_codes: [CountryCode.Us, CountryCode.Ca] },
      ),
    );
    expect(notUs.body.error_code).toBe('INVALID_FIELD');
    expect(notUs.body.error_message).toContain('country_codes');
    const unknown = await plaidFailure(
      plaid.linkTokenCreate({
        user: { client_user_id: 'payer-1' },
        client_name: 'x',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
        auth: { same_day_microdeposits_enabled: 'yes' } as never,
      }),
    );
    expect(unknown.body.error_code).toBe('INVALID_FIELD');
    expect(unknown.body.error_message).toContain('auth.same_day_microdeposits_enabled');
    const noAuthProduct = await plaidFailure(
      paymentToken({ automated_microdeposits_enabled: true }, { products: [Products.Transactions] }),
    );
    expect(noAuthProduct.body.error_code).toBe('INVALID_FIELD');
  });

  it('Same-Day Micro-deposits: a pending account without institution, a random code, no numbers until verified', async () => {
    const { linkToken, added, accessToken, code, result } = await sameDayItem({
      routing: '021000021',
      account: '9900009606',
      name: 'Alberta Bobbeth Charleson',
      subtype: 'savings',
    });
    expect(added.institution).toBeNull();
    expect(added.accounts).toEqual([
      expect.objectContaining({
        mask: '9606',
        subtype: 'savings',
        verification_status: 'pending_manual_verification',
      }),
    ]);
    expect(result.auth_flow).toBe('same_day_microdeposits');
    expect(code).toMatch(/^[A-Z]{3}$/);
    const s = await state();
    expect(s.microdeposits).toEqual([
      {
        item_id: added.item_id,
        account_id: added.accounts[0].account_id,
        auth_flow: 'same_day_microdeposits',
        code,
        attempts_left: 3,
        verification_status: 'pending_manual_verification',
      },
    ]);
    // Single-Item, non-Hosted Link: Plaid sends no LINK webhooks.
    expect(s.webhooks).toEqual([]);

    const accounts = (await plaid.accountsGet({ access_token: accessToken })).data;
    expect(accounts.accounts[0]?.verification_status).toBe('pending_manual_verification');
    expect(accounts.item.institution_id).toBeNull();
    expect(accounts.item.auth_method).toBe('SAME_DAY_MICRODEPOSITS');
    const item = (await plaid.itemGet({ access_token: accessToken })).data.item;
    expect(item.institution_id).toBeNull();

    const linkGet = (await plaid.linkTokenGet({ link_token: linkToken })).data;
    const session = linkGet.link_sessions?.[0];
    expect(session?.results?.item_add_results[0]?.public_token).toBe(added.public_token);
    expect(session?.results?.item_add_results[0]?.institution).toBeNull();
    expect(session?.results?.item_add_results[0]?.accounts[0]?.verification_status).toBe(
      'pending_manual_verification',
    );

    const auth = await plaidFailure(plaid.authGet({ access_token: accessToken }));
    expect(auth.body.error_code).toBe('PRODUCT_NOT_READY');
    const processor = await plaidFailure(
      plaid.processorTokenCreate({
        access_token: accessToken,
        account_id: added.accounts[0].account_id,
        processor: ProcessorTokenCreateRequestProcessorEnum.Dwolla,
      }),
    );
    expect(processor.body.error_code).toBe('PRODUCT_NOT_READY');
    const transfer = await plaidFailure(transferAuthorization(accessToken, added.accounts[0].account_id));
    expect(transfer.body.error_code).toBe('PRODUCT_NOT_READY');

    // Another Same-Day Item gets its own code (codes are drawn, not constant).
    const codes = new Set([code]);
    for (let i = 0; i < 4; i++) codes.add((await sameDayItem()).code);
    expect(codes.size).toBeGreaterThan(1);
  });

  function transferAuthorization(accessToken: string, accountId: string) {
    return plaid.transferAuthorizationCreate({
      access_token: accessToken,
      account_id: accountId,
      type: TransferType.Debit,
      network: TransferNetwork.Ach,
      amount: '12.00',
      ach_class: ACHClass.Web,
      user: { legal_name: 'Alberta Charleson' },
    });
  }

  it('manual verification in update mode: a wrong code costs an attempt, the right one verifies', async () => {
    const { added, accessToken, code } = await sameDayItem();
    const accountId = added.accounts[0].account_id;
    const update = await updateToken(accessToken);
    const wrong = code === 'AAA' ? 'BBB' : 'AAA';
    const first = await complete({ link_token: update, verification_code: wrong });
    expect(first.status).toBe(400);
    expect(first.body.error_code).toBe('INCORRECT_DEPOSIT_VERIFICATION');
    expect(first.body.error_message).toContain('2 attempts left');
    expect((await state()).microdeposits[0]).toMatchObject({
      attempts_left: 2,
      verification_status: 'pending_manual_verification',
    });

    const ok = await complete({ link_token: update, verification_code: code.toLowerCase() });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      item_id: added.item_id,
      account_id: accountId,
      verification_status: 'manually_verified',
    });
    const accounts = (await plaid.accountsGet({ access_token: accessToken })).data.accounts;
    expect(accounts[0]?.verification_status).toBe('manually_verified');
    const auth = (await plaid.authGet({ access_token: accessToken })).data;
    expect(auth.numbers.ach).toEqual([
      expect.objectContaining({ account_id: accountId, routing: '011401533' }),
    ]);
    const authorization = (await transferAuthorization(accessToken, accountId)).data.authorization;
    expect(authorization.decision).toBe('approved');
    expect(authorization.decision_rationale?.code).toBe('MANUALLY_VERIFIED_ITEM');
    expect((await state()).microdeposits[0].verification_status).toBe('manually_verified');
  });

  it('three wrong codes: verification_failed for good, numbers refused', async () => {
    const { accessToken, code } = await sameDayItem();
    const update = await updateToken(accessToken);
    const wrong = code === 'ZZZ' ? 'YYY' : 'ZZZ';
    const answers = [];
    for (let i = 0; i < 3; i++)
      answers.push(await complete({ link_token: update, verification_code: wrong }));
    expect(answers.map((a) => a.body.error_code)).toEqual([
      'INCORRECT_DEPOSIT_VERIFICATION',
      'INCORRECT_DEPOSIT_VERIFICATION',
      'TOO_MANY_VERIFICATION_ATTEMPTS',
    ]);
    const late = await complete({ link_token: update, verification_code: code });
    expect(late.status).toBe(400);
    expect(late.body.error_code).toBe('TOO_MANY_VERIFICATION_ATTEMPTS');
    expect((await state()).microdeposits[0]).toMatchObject({
      attempts_left: 0,
      verification_status: 'verification_failed',
    });
    const accounts = (await plaid.accountsGet({ access_token: accessToken })).data.accounts;
    expect(accounts[0]?.verification_status).toBe('verification_failed');
    expect((await plaidFailure(plaid.authGet({ access_token: accessToken }))).body.error_code).toBe(
      'NO_AUTH_ACCOUNTS',
    );
  });

  it('refuses flows the token cannot take, changing nothing', async () => {
    const before = await state();
    const plain = await paymentToken(undefined);
    const notEnabled = await complete({ link_token: plain, auth_flow: 'same_day_microdeposits' });
    expect(notEnabled.status).toBe(400);
    expect(notEnabled.body.error_message).toContain('auth.same_day_microdeposits_enabled');

    const { linkToken: multi } = await multiItemLinkToken(plaid, {
      clientUserId: 'payer-multi',
      products: [Products.Auth],
      optional_products: [],
      auth: { same_day_microdeposits_enabled: true },
    });
    const multiRes = await complete({ link_token: multi, auth_flow: 'same_day_microdeposits' });
    expect(multiRes.status).toBe(400);
    expect(multiRes.body.error_message).toContain('Multi-Item Link');

    const sameDay = await paymentToken({ same_day_microdeposits_enabled: true });
    const badRouting = await complete({
      link_token: sameDay,
      auth_flow: 'same_day_microdeposits',
      account: { routing: '12' },
    });
    expect(badRouting.status).toBe(400);
    expect(badRouting.body.error_code).toBe('INVALID_FIELD');
    const withTransactions = await paymentToken(
      { same_day_microdeposits_enabled: true },
      { products: [Products.Auth, Products.Transactions] },
    );
    const tx = await complete({ link_token: withTransactions, auth_flow: 'same_day_microdeposits' });
    expect(tx.status).toBe(400);

    const instant = await complete({ link_token: plain, institutions: ['ins_109508'] });
    const instantToken = (
      await plaid.itemPublicTokenExchange({ public_token: instant.body.public_tokens[0] })
    ).data.access_token;
    const noCodeNeeded = await complete({
      link_token: await updateToken(instantToken),
      verification_code: 'ABC',
    });
    expect(noCodeNeeded.status).toBe(400);

    const after = await state();
    expect(after.microdeposits).toEqual(before.microdeposits);
    expect(after.items).toBe(before.items + 1);
  });

  it('Automated Micro-deposits: pending until the emulator verifies, then a signed AUTH webhook', async () => {
    const linkToken = await paymentToken({ automated_microdeposits_enabled: true });
    const res = await complete({ link_token: linkToken, auth_flow: 'automated_microdeposits' });
    expect(res.status).toBe(200);
    const added = res.body.items[0];
    expect(added.institution).not.toBeNull();
    expect(added.accounts[0].verification_status).toBe('pending_automatic_verification');
    const { access_token } = (await plaid.itemPublicTokenExchange({ public_token: added.public_token })).data;
    expect((await plaidFailure(plaid.authGet({ access_token }))).body.error_code).toBe('PRODUCT_NOT_READY');

    const verified = await control(started.url, `/__emulator/items/${added.item_id}/verification`, {
      status: 'automatically_verified',
    });
    expect(verified.status).toBe(200);
    expect(verified.body.verification_status).toBe('automatically_verified');
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toEqual({
      webhook_type: 'AUTH',
      webhook_code: 'AUTOMATICALLY_VERIFIED',
      account_id: added.accounts[0].account_id,
      item_id: added.item_id,
      environment: 'sandbox',
    });
    expect(hook && (await verifyPlaidWebhook(plaid, hook.headers, hook.raw))).toBe(true);
    expect((await plaid.authGet({ access_token })).data.accounts[0]?.verification_status).toBe(
      'automatically_verified',
    );

    const again = await control(started.url, `/__emulator/items/${added.item_id}/verification`, {
      account_id: added.accounts[0].account_id,
      status: 'verification_expired',
    });
    expect(again.status).toBe(400);
    expect(again.body.error_message).toContain('not pending automatic verification');
  });

  it('Automated Micro-deposits expire after 7 days on the emulator clock, with VERIFICATION_EXPIRED', async () => {
    const linkToken = await paymentToken({ automated_microdeposits_enabled: true });
    const added = (await complete({ link_token: linkToken, auth_flow: 'automated_microdeposits' })).body
      .items[0];
    await control(started.url, '/__emulator/clock', { advance_ms: 6 * DAY });
    expect((await state()).microdeposits[0].verification_status).toBe('pending_automatic_verification');
    const moved = await control(started.url, '/__emulator/clock', { advance_ms: DAY });
    expect(moved.body.verifications_expired).toBe(1);
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toMatchObject({
      webhook_type: 'AUTH',
      webhook_code: 'VERIFICATION_EXPIRED',
      item_id: added.item_id,
    });
    expect((await state()).microdeposits[0].verification_status).toBe('verification_expired');
  });

  it('/sandbox/item/set_verification_status: its fields, its errors, its webhook', async () => {
    const linkToken = await paymentToken({ automated_microdeposits_enabled: true });
    const added = (await complete({ link_token: linkToken, auth_flow: 'automated_microdeposits' })).body
      .items[0];
    const { access_token } = (await plaid.itemPublicTokenExchange({ public_token: added.public_token })).data;
    const accountId = added.accounts[0].account_id;

    const missing = await plaidFailure(
      plaid.sandboxItemSetVerificationStatus({
        access_token,
        verification_status: SetStatus.AutomaticallyVerified,
      } as never),
    );
    expect(missing.body.error_code).toBe('MISSING_FIELDS');
    const badStatus = await plaidFailure(
      plaid.sandboxItemSetVerificationStatus({
        access_token,
        account_id: accountId,
        verification_status: 'manually_verified' as never,
      }),
    );
    expect(badStatus.body.error_code).toBe('INVALID_FIELD');
    const unknownAccount = await plaidFailure(
      plaid.sandboxItemSetVerificationStatus({
        access_token,
        account_id: 'nope',
        verification_status: SetStatus.AutomaticallyVerified,
      }),
    );
    expect(unknownAccount.body.error_code).toBe('INVALID_ACCOUNT_ID');
    expect((await state()).microdeposits[0].verification_status).toBe('pending_automatic_verification');

    await plaid.sandboxItemSetVerificationStatus({
      access_token,
      account_id: accountId,
      verification_status: SetStatus.VerificationExpired,
    });
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toMatchObject({ webhook_code: 'VERIFICATION_EXPIRED', account_id: accountId });
    expect(hook && (await verifyPlaidWebhook(plaid, hook.headers, hook.raw))).toBe(true);
    expect((await plaidFailure(plaid.authGet({ access_token }))).body.error_code).toBe('NO_AUTH_ACCOUNTS');

    // An Instant Auth account is not pending anything.
    const { public_token } = (
      await plaid.sandboxPublicTokenCreate({
        institution_id: 'ins_109508',
        initial_products: [Products.Auth],
      })
    ).data;
    const instant = (await plaid.itemPublicTokenExchange({ public_token })).data.access_token;
    const instantAccount = (await plaid.accountsGet({ access_token: instant })).data.accounts[0];
    expect(instantAccount?.verification_status).toBeUndefined();
    const notPending = await plaidFailure(
      plaid.sandboxItemSetVerificationStatus({
        access_token: instant,
        account_id: instantAccount?.account_id ?? '',
        verification_status: SetStatus.AutomaticallyVerified,
      }),
    );
    expect(notPending.body.error_code).toBe('INVALID_FIELD');
  });

  it('Database Auth: database_insights_pass, numbers served at once', async () => {
    const linkToken = await paymentToken({ database_insights_enabled: true });
    const res = await complete({
      link_token: linkToken,
      auth_flow: 'database_auth',
      account: { account: '123456789' },
    });
    expect(res.status).toBe(200);
    const { access_token } = (
      await plaid.itemPublicTokenExchange({ public_token: res.body.public_tokens[0] })
    ).data;
    const auth = (await plaid.authGet({ access_token })).data;
    expect(auth.accounts[0]?.verification_status).toBe('database_insights_pass');
    expect(auth.numbers.ach[0]?.account).toBe('123456789');
    expect((await state()).microdeposits).toEqual([]);
  });
});

describe('emulator: micro-deposits survive a restart', () => {
  it('keeps codes, attempts and statuses in the state file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'linkflow-emulator-auth-'));
    const stateFile = join(dir, 'state.json');
    try {
      const first = await startEmulator({ port: 0, stateFile, seed: 3 });
      const plaid = createPlaidClient({ basePath: first.url, clientId: 'test', secret: 'test' });
      const linkToken = (
        await plaid.linkTokenCreate({
          user: { client_user_id: 'payer-2' },
          client_name: 'x',
          language: 'en',
          country_codes: [CountryCode.Us],
          products: [Products.Auth],
          auth: { same_day_microdeposits_enabled: true },
        })
      ).data.link_token;
      const res = await control(first.url, '/__emulator/link/complete', {
        link_token: linkToken,
        auth_flow: 'same_day_microdeposits',
      });
      const { access_token } = (
        await plaid.itemPublicTokenExchange({ public_token: res.body.public_tokens[0] })
      ).data;
      const update = (
        await plaid.linkTokenCreate({
          user: { client_user_id: 'payer-2' },
          client_name: 'x',
          language: 'en',
          country_codes: [CountryCode.Us],
          access_token,
        })
      ).data.link_token;
      await control(first.url, '/__emulator/link/complete', { link_token: update, verification_code: '000' });
      const before = (await control(first.url, '/__emulator/state')).body.microdeposits;
      await first.close();

      const second = await startEmulator({ port: 0, stateFile, seed: 3 });
      try {
        const after = (await control(second.url, '/__emulator/state')).body.microdeposits;
        expect(after).toEqual(before);
        expect(after[0].attempts_left).toBe(2);
        const plaid2 = createPlaidClient({ basePath: second.url, clientId: 'test', secret: 'test' });
        const accounts = (await plaid2.accountsGet({ access_token })).data.accounts;
        expect(accounts[0]?.verification_status).toBe('pending_manual_verification');
        const ok = await control(second.url, '/__emulator/link/complete', {
          link_token: update,
          verification_code: after[0].code,
        });
        expect(ok.body.verification_status).toBe('manually_verified');
        await control(second.url, '/__emulator/reset', {});
        expect((await control(second.url, '/__emulator/state')).body.microdeposits).toEqual([]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
