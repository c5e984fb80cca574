/**
 * Plaid's error answers: token lifetimes, credentials, validation, injected faults, retention,
 * user APIs and Sandbox transfer decisions — each checked for HTTP status, error_type, error_code
 * and a request_id.
 */
import { ACHClass, CountryCode, type PlaidApi, Products, TransferNetwork, TransferType } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { completeLink, control, multiItemLinkToken, plaidFailure } from './helpers';

function expectPlaidError(
  failure: { status: number; body: Record<string, unknown> },
  status: number,
  type: string,
  code: string,
) {
  expect(failure.status).toBe(status);
  expect(failure.body).toMatchObject({ error_type: type, error_code: code });
  expect(failure.body).toHaveProperty('display_message');
  expect(failure.body.request_id).toMatch(/^[0-9A-Za-z]{15}$/);
  expect(typeof failure.body.error_message).toBe('string');
  expect(failure.body.documentation_url).toMatch(/^https:\/\/plaid\.com\/docs\//);
}

describe('emulator: Plaid errors', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;

  beforeAll(async () => {
    // A frozen base clock: only /__emulator/clock moves time, so boundaries can be hit exactly.
    const frozen = Date.parse('2025-06-02T12:00:00Z');
    started = await startEmulator({ port: 0, seed: 7, now: () => frozen });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
  });

  async function linkedTokens(clientUserId: string, institutions?: string[]) {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId });
    const done = await completeLink(started.url, {
      link_token: linkToken,
      ...(institutions ? { institutions } : {}),
    });
    return { linkToken, ...done };
  }

  it('refuses a second exchange of the same public token', async () => {
    const { public_tokens } = await linkedTokens('double-exchange', ['ins_109508']);
    const token = public_tokens[0] as string;
    await plaid.itemPublicTokenExchange({ public_token: token });
    const again = await plaidFailure(plaid.itemPublicTokenExchange({ public_token: token }));
    expectPlaidError(again, 400, 'INVALID_INPUT', 'INVALID_PUBLIC_TOKEN');
    expect(started.emulator.state().exchanges[token]).toBe(1);
  });

  it('refuses public tokens 30 minutes after creation, and tokens expired on request', async () => {
    const { public_tokens } = await linkedTokens('expiry', ['ins_109508', 'ins_109509']);
    await control(started.url, '/__emulator/clock', { advance_ms: 30 * 60_000 - 1 });
    // One millisecond short of 30 minutes the first token still works.
    await plaid.itemPublicTokenExchange({ public_token: public_tokens[0] as string });
    await control(started.url, '/__emulator/clock', { advance_ms: 1 });
    const late = await plaidFailure(
      plaid.itemPublicTokenExchange({ public_token: public_tokens[1] as string }),
    );
    expectPlaidError(late, 400, 'INVALID_INPUT', 'INVALID_PUBLIC_TOKEN');
    expect(late.body.error_message).toContain('expire 30 minutes after creation');

    const fresh = await linkedTokens('expire-route', ['ins_109508']);
    const expire = await control(started.url, '/__emulator/public_token/expire', {
      public_token: fresh.public_tokens[0],
    });
    expect(expire.status).toBe(200);
    const expired = await plaidFailure(
      plaid.itemPublicTokenExchange({ public_token: fresh.public_tokens[0] as string }),
    );
    expectPlaidError(expired, 400, 'INVALID_INPUT', 'INVALID_PUBLIC_TOKEN');
    expect(started.emulator.state().exchanges[fresh.public_tokens[0] as string]).toBe(0);

    const malformed = await plaidFailure(plaid.itemPublicTokenExchange({ public_token: 'public-nonsense' }));
    expect(malformed.body.error_message).toContain('invalid format');
  });

  it('rejects missing or empty credentials, and unknown ones when credentials are pinned', async () => {
    const noSecret = createPlaidClient({ basePath: started.url, clientId: 'test', secret: '' });
    const failure = await plaidFailure(noSecret.userCreate({ client_user_id: 'creds' }));
    expectPlaidError(failure, 400, 'INVALID_REQUEST', 'INVALID_FIELD');
    expect(failure.body.error_message).toBe('secret must be a properly formatted, non-empty string');

    const res = await fetch(`${started.url}/user/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_user_id: 'creds', secret: 's' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error_code: 'INVALID_FIELD',
      error_message: expect.stringContaining('client_id'),
    });

    // Credentials in the body work as well as headers.
    const inBody = await fetch(`${started.url}/user/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'test', secret: 'test', client_user_id: 'creds-in-body' }),
    });
    expect(inBody.status).toBe(201);

    const pinned = await startEmulator({ port: 0, clientCredentials: { good: 'right' } });
    try {
      const wrong = createPlaidClient({ basePath: pinned.url, clientId: 'good', secret: 'wrong' });
      expectPlaidError(
        await plaidFailure(wrong.userCreate({ client_user_id: 'x' })),
        400,
        'INVALID_INPUT',
        'INVALID_API_KEYS',
      );
      const right = createPlaidClient({ basePath: pinned.url, clientId: 'good', secret: 'right' });
      expect((await right.userCreate({ client_user_id: 'x' })).data.user_id).toMatch(/^usr_/);
    } finally {
      await pinned.close();
    }
  });

  it('validates /link/token/create like Plaid', async () => {
    const { user_id } = (await plaid.userCreate({ client_user_id: 'validation' })).data;
    const base = {
      user: { client_user_id: 'validation' },
      user_id,
      client_name: 'linkflow',
      language: 'en',
      country_codes: [CountryCode.Us],
      products: [Products.Auth],
    };
    const { client_name: _omitName, ...noName } = base;
    const missing = await plaidFailure(plaid.linkTokenCreate(noName as never));
    expectPlaidError(missing, 400, 'INVALID_REQUEST', 'MISSING_FIELDS');
    expect(missing.body.error_message).toBe('the following required fields are missing: client_name');

    const { language: _l, country_codes: _c, ...noTwo } = base;
    const missingTwo = await plaidFailure(plaid.linkTokenCreate(noTwo as never));
    expect(missingTwo.body.error_message).toBe(
      'the following required fields are missing: language, country_codes',
    );

    const noClientUserId = await plaidFailure(
      plaid.linkTokenCreate({ ...base, user: {} as never, user_id: undefined }),
    );
    expectPlaidError(noClientUserId, 400, 'INVALID_REQUEST', 'MISSING_FIELDS');
    expect(noClientUserId.body.error_message).toContain('user.client_user_id');

    const noProducts = await plaidFailure(plaid.linkTokenCreate({ ...base, products: undefined }));
    expect(noProducts.body).toMatchObject({
      error_code: 'MISSING_FIELDS',
      error_message: expect.stringContaining('products'),
    });

    const badCountry = await plaidFailure(
      plaid.linkTokenCreate({ ...base, country_codes: ['XX' as CountryCode] }),
    );
    expectPlaidError(badCountry, 400, 'INVALID_REQUEST', 'INVALID_FIELD');
    expect(badCountry.body.error_message).toContain('country_codes');

    const balance = await plaidFailure(plaid.linkTokenCreate({ ...base, products: [Products.Balance] }));
    expectPlaidError(balance, 400, 'INVALID_INPUT', 'INVALID_PRODUCT');

    const overlap = await plaidFailure(
      plaid.linkTokenCreate({ ...base, optional_products: [Products.Auth] }),
    );
    expect(overlap.body).toMatchObject({ error_code: 'INVALID_FIELD' });

    const unknownField = await plaidFailure(plaid.linkTokenCreate({ ...base, colour: 'blue' } as never));
    expectPlaidError(unknownField, 400, 'INVALID_REQUEST', 'UNKNOWN_FIELDS');
    expect(unknownField.body.error_message).toContain('colour');

    const multiWithoutUser = await plaidFailure(
      plaid.linkTokenCreate({ ...base, user_id: undefined, enable_multi_item_link: true }),
    );
    expect(multiWithoutUser.body).toMatchObject({ error_code: 'INVALID_FIELD' });

    const notJson = await fetch(`${started.url}/link/token/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'PLAID-CLIENT-ID': 'test', 'PLAID-SECRET': 'test' },
      body: '{not json',
    });
    expect(await notJson.json()).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_BODY' });
  });

  it('rejects a user_id or user_token that does not belong to user.client_user_id', async () => {
    const alice = (await plaid.userCreate({ client_user_id: 'alice' })).data;
    const mismatch = await plaidFailure(
      plaid.linkTokenCreate({
        user: { client_user_id: 'bob' },
        user_id: alice.user_id,
        client_name: 'linkflow',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
      }),
    );
    expectPlaidError(mismatch, 400, 'INVALID_REQUEST', 'INVALID_FIELD');
    expect(mismatch.body.error_message).toContain('user.client_user_id');

    const unknown = await plaidFailure(
      plaid.linkTokenCreate({
        user: { client_user_id: 'alice' },
        user_id: 'usr_doesnotexist00',
        client_name: 'linkflow',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
      }),
    );
    expectPlaidError(unknown, 400, 'INVALID_INPUT', 'INVALID_USER_ID');

    const badToken = await plaidFailure(
      plaid.linkTokenCreate({
        user: { client_user_id: 'alice' },
        user_token: 'user-sandbox-00000000-0000-4000-8000-000000000000',
        client_name: 'linkflow',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
      }),
    );
    expectPlaidError(badToken, 400, 'INVALID_INPUT', 'INVALID_USER_TOKEN');
  });

  it('answers with the legacy user API when configured, and rejects a repeated client_user_id', async () => {
    const legacy = await startEmulator({ port: 0, userApi: 'legacy' });
    try {
      const client = createPlaidClient({ basePath: legacy.url, clientId: 'old-client', secret: 's' });
      const created = (await client.userCreate({ client_user_id: 'legacy-user' })).data;
      expect(created.user_token).toMatch(/^user-sandbox-[0-9a-f-]{36}$/);
      expect(created.user_id).toMatch(/^[0-9A-Za-z]{29}$/);
      const again = await plaidFailure(client.userCreate({ client_user_id: 'legacy-user' }));
      expectPlaidError(again, 400, 'INVALID_REQUEST', 'INVALID_FIELD');

      const token = (
        await client.linkTokenCreate({
          user: { client_user_id: 'legacy-user' },
          user_token: created.user_token,
          client_name: 'linkflow',
          language: 'en',
          country_codes: [CountryCode.Us],
          products: [Products.Transactions],
          enable_multi_item_link: true,
        })
      ).data;
      expect(token).not.toHaveProperty('user_id');
      const mismatch = await plaidFailure(
        client.linkTokenCreate({
          user: { client_user_id: 'someone-else' },
          user_token: created.user_token,
          client_name: 'linkflow',
          language: 'en',
          country_codes: [CountryCode.Us],
          products: [Products.Transactions],
        }),
      );
      expect(mismatch.body).toMatchObject({ error_code: 'INVALID_FIELD' });

      // The opt-in header selects the new API even here, as at Plaid.
      const upgraded = await fetch(`${legacy.url}/user/create`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'PLAID-CLIENT-ID': 'old-client',
          'PLAID-SECRET': 's',
          'Plaid-New-User-API-Enabled': 'true',
        },
        body: JSON.stringify({ client_user_id: 'upgraded-user' }),
      });
      expect(((await upgraded.json()) as { user_id: string }).user_id).toMatch(/^usr_/);
    } finally {
      await legacy.close();
    }

    const perClient = await startEmulator({ port: 0, legacyClientIds: ['legacy-client'] });
    try {
      const old = createPlaidClient({ basePath: perClient.url, clientId: 'legacy-client', secret: 's' });
      const modern = createPlaidClient({ basePath: perClient.url, clientId: 'modern-client', secret: 's' });
      expect((await old.userCreate({ client_user_id: 'u' })).data.user_token).toBeTruthy();
      expect((await modern.userCreate({ client_user_id: 'u' })).data.user_token).toBeUndefined();
    } finally {
      await perClient.close();
    }
  });

  it('fails the next calls to a path with injected faults, with their real type and status', async () => {
    const { public_tokens } = await linkedTokens('faults', ['ins_109508']);
    const { access_token } = (
      await plaid.itemPublicTokenExchange({ public_token: public_tokens[0] as string })
    ).data;

    const injected = await control(started.url, '/__emulator/faults', {
      path: '/item/get',
      error_code: 'RATE_LIMIT',
      times: 2,
    });
    expect(injected.body).toMatchObject({ error_type: 'RATE_LIMIT_EXCEEDED', http_status: 429, times: 2 });
    for (let i = 0; i < 2; i++) {
      expectPlaidError(
        await plaidFailure(plaid.itemGet({ access_token })),
        429,
        'RATE_LIMIT_EXCEEDED',
        'RATE_LIMIT',
      );
    }
    expect((await plaid.itemGet({ access_token })).data.item.institution_id).toBe('ins_109508');

    await control(started.url, '/__emulator/faults', {
      path: '/auth/get',
      error_code: 'INTERNAL_SERVER_ERROR',
    });
    expectPlaidError(
      await plaidFailure(plaid.authGet({ access_token })),
      500,
      'API_ERROR',
      'INTERNAL_SERVER_ERROR',
    );
    await control(started.url, '/__emulator/faults', {
      path: '/auth/get',
      error_code: 'PLANNED_MAINTENANCE',
    });
    expectPlaidError(
      await plaidFailure(plaid.authGet({ access_token })),
      503,
      'API_ERROR',
      'PLANNED_MAINTENANCE',
    );
    await control(started.url, '/__emulator/faults', { path: '/auth/get', error_code: 'INSTITUTION_DOWN' });
    const down = await plaidFailure(plaid.authGet({ access_token }));
    expectPlaidError(down, 400, 'INSTITUTION_ERROR', 'INSTITUTION_DOWN');
    expect(down.body.display_message).toContain('not currently responding');
    await control(started.url, '/__emulator/faults', {
      path: '/auth/get',
      error_code: 'PRODUCT_NOT_READY',
      http_status: 409,
    });
    expectPlaidError(
      await plaidFailure(plaid.authGet({ access_token })),
      409,
      'ITEM_ERROR',
      'PRODUCT_NOT_READY',
    );
    expect((await plaid.authGet({ access_token })).data.numbers.ach).toHaveLength(2);

    // A faulted exchange does not consume the public token.
    const second = await linkedTokens('faulted-exchange', ['ins_109509']);
    await control(started.url, '/__emulator/faults', {
      path: '/item/public_token/exchange',
      error_code: 'RATE_LIMIT',
    });
    await plaidFailure(plaid.itemPublicTokenExchange({ public_token: second.public_tokens[0] as string }));
    await plaid.itemPublicTokenExchange({ public_token: second.public_tokens[0] as string });
    expect(started.emulator.state().exchanges[second.public_tokens[0] as string]).toBe(1);

    const state = started.emulator.state();
    expect(state.faults_injected).toMatchObject({
      '/item/get': 2,
      '/auth/get': 4,
      '/item/public_token/exchange': 1,
    });

    const unknownCode = await control(started.url, '/__emulator/faults', {
      path: '/item/get',
      error_code: 'NOPE',
    });
    expect(unknownCode.status).toBe(400);
    const unknownPath = await control(started.url, '/__emulator/faults', {
      path: '/nope',
      error_code: 'RATE_LIMIT',
    });
    expect(unknownPath.status).toBe(400);
  });

  it('forgets session results six hours after the session finished', async () => {
    const { linkToken } = await linkedTokens('retention', ['ins_109508']);
    expect((await plaid.linkTokenGet({ link_token: linkToken })).data.link_sessions).toHaveLength(1);
    await control(started.url, '/__emulator/clock', { advance_ms: 6 * 3_600_000 - 1 });
    expect((await plaid.linkTokenGet({ link_token: linkToken })).data.link_sessions).toHaveLength(1);
    await control(started.url, '/__emulator/clock', { advance_ms: 1 });
    const later = (await plaid.linkTokenGet({ link_token: linkToken })).data;
    expect(later.link_token).toBe(linkToken);
    expect(later.link_sessions).toEqual([]);
  });

  it('does not complete Link for an unknown or expired link token', async () => {
    const unknown = await control(started.url, '/__emulator/link/complete', {
      link_token: 'link-sandbox-00000000-0000-4000-8000-000000000000',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({
      error_code: 'INVALID_LINK_TOKEN',
      error_message: 'invalid link_token provided',
    });

    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'expired-link' });
    await control(started.url, '/__emulator/clock', { advance_ms: 4 * 3_600_000 });
    const expired = await control(started.url, '/__emulator/link/complete', { link_token: linkToken });
    expect(expired.body).toMatchObject({ error_code: 'INVALID_LINK_TOKEN' });

    const getUnknown = await plaidFailure(plaid.linkTokenGet({ link_token: 'link-sandbox-nope' }));
    expectPlaidError(getUnknown, 400, 'INVALID_INPUT', 'INVALID_LINK_TOKEN');
  });

  it('refuses institutions Link would not offer for the required products', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'required-auth',
      products: [Products.Auth],
      optional_products: [],
    });
    const refused = await control(started.url, '/__emulator/link/complete', {
      link_token: linkToken,
      institutions: ['ins_linkflow_no_auth'],
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error_code: 'PRODUCTS_NOT_SUPPORTED' });
    // Without a choice the user gets the first three institutions that do support Auth.
    const done = await completeLink(started.url, { link_token: linkToken });
    expect(done.items.map((i) => i.institution.institution_id)).toEqual([
      'ins_109508',
      'ins_109509',
      'ins_linkflow_zero_balance',
    ]);
  });

  it('answers /auth/get with NO_AUTH_ACCOUNTS for an Item without checking or savings', async () => {
    const { public_tokens } = await linkedTokens('no-auth-accounts', ['ins_linkflow_no_auth_accounts']);
    const { access_token } = (
      await plaid.itemPublicTokenExchange({ public_token: public_tokens[0] as string })
    ).data;
    expect((await plaid.itemGet({ access_token })).data.item.products).toContain('auth');
    expectPlaidError(
      await plaidFailure(plaid.authGet({ access_token })),
      400,
      'ITEM_ERROR',
      'NO_AUTH_ACCOUNTS',
    );
  });

  it('authorizes transfers by Sandbox rules: approved, NSF, RISK', async () => {
    const { public_tokens } = await linkedTokens('transfers', ['ins_109508', 'ins_linkflow_zero_balance']);
    const platypus = (await plaid.itemPublicTokenExchange({ public_token: public_tokens[0] as string })).data;
    const tartan = (await plaid.itemPublicTokenExchange({ public_token: public_tokens[1] as string })).data;
    const accounts = (await plaid.accountsGet({ access_token: platypus.access_token })).data.accounts;
    const savings = accounts.find((a) => a.subtype === 'savings');
    expect(savings?.balances.available).toBe(200);

    const authorize = (access_token: string, account_id: string, amount: string, type = TransferType.Debit) =>
      plaid.transferAuthorizationCreate({
        access_token,
        account_id,
        type,
        network: TransferNetwork.Ach,
        amount,
        ach_class: type === TransferType.Debit ? ACHClass.Web : ACHClass.Ppd,
        user: { legal_name: 'Anne Charleston' },
      });

    const approved = (await authorize(platypus.access_token, savings?.account_id as string, '200.00')).data;
    expect(approved.authorization).toMatchObject({
      decision: 'approved',
      decision_rationale: null,
      guarantee_decision: null,
      proposed_transfer: {
        amount: '200.00',
        type: 'debit',
        network: 'ach',
        ach_class: 'web',
        iso_currency_code: 'USD',
      },
    });
    expect(approved.authorization.id).toMatch(/^[0-9a-f-]{36}$/);

    const nsf = (await authorize(platypus.access_token, savings?.account_id as string, '200.01')).data;
    expect(nsf.authorization.decision).toBe('declined');
    expect(nsf.authorization.decision_rationale?.code).toBe('NSF');
    expect(nsf.authorization.decision_rationale?.description).toBeTruthy();

    const credit = (
      await authorize(platypus.access_token, savings?.account_id as string, '500.00', TransferType.Credit)
    ).data;
    expect(credit.authorization.decision).toBe('approved');

    const tartanChecking = (await plaid.accountsGet({ access_token: tartan.access_token })).data.accounts[0];
    const risk = (await authorize(tartan.access_token, tartanChecking?.account_id as string, '1.00')).data;
    expect(risk.authorization.decision_rationale?.code).toBe('RISK');

    const badAmount = await plaidFailure(
      authorize(platypus.access_token, savings?.account_id as string, '1.005'),
    );
    expectPlaidError(badAmount, 400, 'INVALID_REQUEST', 'INVALID_FIELD');
    const card = accounts.find((a) => a.subtype === 'credit card');
    const onCard = await plaidFailure(authorize(platypus.access_token, card?.account_id as string, '1.00'));
    expect(onCard.body).toMatchObject({ error_code: 'INVALID_FIELD' });
  });

  it('answers unknown access tokens, unknown routes and unknown webhook keys like Plaid', async () => {
    const unknown = await plaidFailure(
      plaid.itemGet({ access_token: 'access-sandbox-00000000-0000-4000-8000-000000000000' }),
    );
    expectPlaidError(unknown, 400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN');
    expect(unknown.body.error_message).toBe('could not find matching access token');

    const malformed = await plaidFailure(plaid.accountsGet({ access_token: 'not-a-token' }));
    expect(malformed.body.error_message).toContain('expected format: access-<environment>-<identifier>');

    const key = await plaidFailure(plaid.webhookVerificationKeyGet({ key_id: 'nope' }));
    expectPlaidError(key, 400, 'INVALID_INPUT', 'INVALID_WEBHOOK_VERIFICATION_KEY_ID');

    const notFound = await fetch(`${started.url}/transactions/sync`, { method: 'POST' });
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'NOT_FOUND' });
  });
});
