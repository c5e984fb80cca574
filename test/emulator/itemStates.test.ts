/**
 * Where Plaid is less kind than a naive emulator, through the official client: Items in error
 * states, idempotent transfer authorizations, short-lived update-mode and Hosted Link tokens,
 * Sandbox webhooks on demand, and institutions by id.
 */
import {
  ACHClass,
  CountryCode,
  type PlaidApi,
  Products,
  SandboxItemFireWebhookRequestWebhookCodeEnum,
  TransferNetwork,
  TransferType,
  WebhookType,
} from 'plaid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { control, plaidFailure, type Receiver, startReceiver } from './helpers';

const HOUR = 3_600_000;

describe('emulator: Item states, idempotency and lifetimes', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    started = await startEmulator({ port: 0, seed: 5, webhookRetryDelaysMs: [20] });
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

  /** An exchanged Sandbox Item with auth and transactions, its webhook pointed at the receiver. */
  async function item(institutionId = 'ins_109508') {
    const { public_token } = (
      await plaid.sandboxPublicTokenCreate({
        institution_id: institutionId,
        initial_products: [Products.Auth, Products.Transactions],
        options: { webhook: receiver.url },
      })
    ).data;
    const { access_token, item_id } = (await plaid.itemPublicTokenExchange({ public_token })).data;
    const accounts = (await plaid.accountsGet({ access_token })).data.accounts;
    const checking = accounts.find((a) => a.subtype === 'checking');
    if (!checking) throw new Error('no checking account');
    return { accessToken: access_token, itemId: item_id, checkingId: checking.account_id };
  }

  const authorize = (accessToken: string, accountId: string, idempotencyKey?: string, amount = '1.00') =>
    plaid.transferAuthorizationCreate({
      access_token: accessToken,
      account_id: accountId,
      type: TransferType.Debit,
      network: TransferNetwork.Ach,
      ach_class: ACHClass.Web,
      amount,
      user: { legal_name: 'Test User' },
      ...(idempotencyKey ? { idempotency_key: idempotencyKey } : {}),
    });

  it('reset_login puts the Item in ITEM_LOGIN_REQUIRED: /item/get shows it, products fail, a webhook says so', async () => {
    const { accessToken, itemId, checkingId } = await item();
    expect((await plaid.itemGet({ access_token: accessToken })).data.item.error).toBeNull();
    const reset = await plaid.sandboxItemResetLogin({ access_token: accessToken });
    expect(reset.data.reset_login).toBe(true);

    const shown = (await plaid.itemGet({ access_token: accessToken })).data.item.error;
    expect(shown).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_LOGIN_REQUIRED' });
    for (const call of [
      plaid.accountsGet({ access_token: accessToken }),
      plaid.authGet({ access_token: accessToken }),
    ]) {
      const failure = await plaidFailure(call);
      expect(failure.status).toBe(400);
      expect(failure.body).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_LOGIN_REQUIRED' });
    }
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toMatchObject({
      webhook_type: 'ITEM',
      webhook_code: 'ERROR',
      item_id: itemId,
      error: { error_code: 'ITEM_LOGIN_REQUIRED' },
    });

    // Transfer authorization on such an Item: 200, user_action_required, and no idempotency.
    const first = (await authorize(accessToken, checkingId, 'key-after-reset')).data.authorization;
    expect(first).toMatchObject({
      decision: 'user_action_required',
      decision_rationale: { code: 'ITEM_LOGIN_REQUIRED' },
    });
    const again = (await authorize(accessToken, checkingId, 'key-after-reset')).data.authorization;
    expect(again.id).not.toBe(first.id);

    // The Item can still be repaired in update mode, and removed.
    await plaid.itemRemove({ access_token: accessToken });
  });

  it('LOGIN_REPAIRED through fire_webhook clears the error', async () => {
    const { accessToken } = await item();
    await plaid.sandboxItemResetLogin({ access_token: accessToken });
    await plaid.sandboxItemFireWebhook({
      access_token: accessToken,
      webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.LoginRepaired,
    });
    expect((await plaid.itemGet({ access_token: accessToken })).data.item.error).toBeNull();
    const hooks = await receiver.waitFor(2);
    expect(hooks.map((h) => [h.body.webhook_type, h.body.webhook_code])).toEqual([
      ['ITEM', 'ERROR'],
      ['ITEM', 'LOGIN_REPAIRED'],
    ]);
  });

  it('Sandbox Items fall into ITEM_LOGIN_REQUIRED after 30 days on the emulator clock', async () => {
    const { accessToken } = await item();
    await control(started.url, '/__emulator/clock', { advance_ms: 30 * 24 * HOUR });
    expect((await plaidFailure(plaid.accountsGet({ access_token: accessToken }))).body.error_code).toBe(
      'ITEM_LOGIN_REQUIRED',
    );
  });

  it('fires Sandbox webhooks on demand, and refuses what Plaid refuses', async () => {
    const { accessToken, itemId } = await item();
    const fired = await plaid.sandboxItemFireWebhook({
      access_token: accessToken,
      webhook_type: WebhookType.Transactions,
      webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.SyncUpdatesAvailable,
    });
    expect(fired.data.webhook_fired).toBe(true);
    const [hook] = await receiver.waitFor(1);
    expect(hook?.body).toMatchObject({
      webhook_type: 'TRANSACTIONS',
      webhook_code: 'SYNC_UPDATES_AVAILABLE',
      item_id: itemId,
      environment: 'sandbox',
    });

    const wrongType = await plaidFailure(
      plaid.sandboxItemFireWebhook({
        access_token: accessToken,
        webhook_type: WebhookType.Item,
        webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.SyncUpdatesAvailable,
      }),
    );
    expect(wrongType.body.error_code).toBe('INVALID_FIELD');

    // An Item without a webhook URL: SANDBOX_WEBHOOK_INVALID.
    const { public_token } = (
      await plaid.sandboxPublicTokenCreate({
        institution_id: 'ins_109508',
        initial_products: [Products.Auth],
      })
    ).data;
    const quiet = (await plaid.itemPublicTokenExchange({ public_token })).data.access_token;
    const noHook = await plaidFailure(
      plaid.sandboxItemFireWebhook({
        access_token: quiet,
        webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.NewAccountsAvailable,
      }),
    );
    expect(noHook.body).toMatchObject({ error_type: 'SANDBOX_ERROR', error_code: 'SANDBOX_WEBHOOK_INVALID' });
    // And a product the Item lacks: SANDBOX_PRODUCT_NOT_ENABLED.
    const noProduct = await plaidFailure(
      plaid.sandboxItemFireWebhook({
        access_token: quiet,
        webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.DefaultUpdate,
      }),
    );
    expect(noProduct.body.error_code).toBe('SANDBOX_PRODUCT_NOT_ENABLED');
  });

  it('transfer authorization: the same idempotency_key gives the same authorization for 48 hours', async () => {
    const { accessToken, checkingId } = await item();
    const first = await authorize(accessToken, checkingId, 'order-42');
    const retry = await authorize(accessToken, checkingId, 'order-42');
    expect(retry.data.authorization).toEqual(first.data.authorization);
    expect(retry.data.request_id).not.toBe(first.data.request_id);
    const other = await authorize(accessToken, checkingId, 'order-43');
    expect(other.data.authorization.id).not.toBe(first.data.authorization.id);
    const unkeyed = [await authorize(accessToken, checkingId), await authorize(accessToken, checkingId)];
    expect(unkeyed[0]?.data.authorization.id).not.toBe(unkeyed[1]?.data.authorization.id);

    await control(started.url, '/__emulator/clock', { advance_ms: 48 * HOUR });
    // The Item ages too, but 48 hours is far from 30 days: a fresh authorization under the old key.
    const later = await authorize(accessToken, checkingId, 'order-42');
    expect(later.data.authorization.id).not.toBe(first.data.authorization.id);

    const tooLong = await plaidFailure(authorize(accessToken, checkingId, 'k'.repeat(51)));
    expect(tooLong.body).toMatchObject({ error_code: 'INVALID_FIELD' });
    expect(tooLong.body.error_message).toMatch(/idempotency_key/);
  });

  it('link tokens live 4 hours; update mode and Hosted Link 30 minutes; update mode needs a real access token', async () => {
    const { accessToken } = await item();
    const base = {
      user: { client_user_id: 'lifetimes' },
      client_name: 'tests',
      language: 'en',
      country_codes: [CountryCode.Us],
    };
    const hours = (expiration: string) => (Date.parse(expiration) - Date.now()) / HOUR;
    const normal = (await plaid.linkTokenCreate({ ...base, products: [Products.Auth] })).data;
    expect(hours(normal.expiration)).toBeGreaterThan(3.9);
    const update = (await plaid.linkTokenCreate({ ...base, access_token: accessToken })).data;
    expect(hours(update.expiration)).toBeGreaterThan(0.45);
    expect(hours(update.expiration)).toBeLessThanOrEqual(0.5);
    const hosted = (await plaid.linkTokenCreate({ ...base, products: [Products.Auth], hosted_link: {} }))
      .data;
    expect(hours(hosted.expiration)).toBeLessThanOrEqual(0.5);

    const bogus = await plaidFailure(
      plaid.linkTokenCreate({ ...base, access_token: 'access-sandbox-00000000-0000-4000-8000-000000000000' }),
    );
    expect(bogus.body.error_code).toBe('INVALID_ACCESS_TOKEN');
  });

  it('describes an institution by id, and refuses an unknown one', async () => {
    const got = (
      await plaid.institutionsGetById({ institution_id: 'ins_109508', country_codes: [CountryCode.Us] })
    ).data.institution;
    expect(got).toMatchObject({
      institution_id: 'ins_109508',
      name: 'First Platypus Bank',
      country_codes: ['US'],
      oauth: false,
    });
    expect(got.products).toContain('auth');
    const unknown = await plaidFailure(
      plaid.institutionsGetById({ institution_id: 'ins_0', country_codes: [CountryCode.Us] }),
    );
    expect(unknown.body).toMatchObject({ error_type: 'INVALID_INPUT', error_code: 'INVALID_INSTITUTION' });
  });
});
