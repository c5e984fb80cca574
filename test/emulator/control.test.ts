/**
 * Control routes and the Link page: the catalogue, the page's hooks for browser tests, state and
 * reset over HTTP, and configuration from the environment.
 */
import { CountryCode, type PlaidApi, Products } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { resolveOptions } from '../../src/emulator/options';
import { createPlaidClient } from '../../src/plaid/client';
import { completeLink, control, multiItemLinkToken, plaidFailure } from './helpers';

describe('emulator: control routes and Link page', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;

  beforeAll(async () => {
    started = await startEmulator({ port: 0, seed: 3 });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
  });

  it('lists the fixture catalogue with a mix of Auth support and account types', async () => {
    const res = await fetch(`${started.url}/__emulator/institutions`);
    const { institutions } = (await res.json()) as {
      institutions: Array<{
        institution_id: string;
        name: string;
        supports_auth: boolean;
        accounts: Array<{ name: string; mask: string; type: string; subtype: string }>;
      }>;
    };
    expect(institutions.length).toBeGreaterThanOrEqual(5);
    expect(institutions.slice(0, 5).map((i) => [i.institution_id, i.name, i.supports_auth])).toEqual([
      ['ins_109508', 'First Platypus Bank', true],
      ['ins_109509', 'First Gingham Credit Union', true],
      ['ins_linkflow_no_auth', 'Seersucker Credit Union', false],
      ['ins_linkflow_zero_balance', 'Chambray Bank', true],
      ['ins_linkflow_no_auth_accounts', 'Herringbone Bank', true],
    ]);
    const depository = (i: (typeof institutions)[number]) =>
      i.accounts.some((a) => a.subtype === 'checking' || a.subtype === 'savings');
    expect(institutions.some((i) => !i.supports_auth && depository(i))).toBe(true);
    expect(institutions.some((i) => !depository(i) && i.accounts.every((a) => a.type !== 'depository'))).toBe(
      true,
    );
    const types = new Set(institutions.flatMap((i) => i.accounts.map((a) => a.subtype)));
    for (const t of ['checking', 'savings', 'credit card', 'mortgage', 'brokerage'])
      expect(types).toContain(t);
  });

  it('serves a Link page with stable hooks, and refuses unknown link tokens', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'page-user',
      products: [Products.Auth],
      optional_products: [],
    });
    const res = await fetch(`${started.url}/__emulator/link?link_token=${linkToken}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    for (const id of [
      'ins_109508',
      'ins_109509',
      'ins_linkflow_no_auth',
      'ins_linkflow_zero_balance',
      'ins_linkflow_no_auth_accounts',
    ]) {
      expect(html).toContain(`data-institution-id="${id}"`);
    }
    expect(html).toContain('id="finish"');
    expect(html).toContain('id="exit"');
    // The page plays Link step by step: session, Items, finish.
    expect(html).toContain('/__emulator/link/sessions');
    // Seersucker has no Auth: with auth required, Link does not offer it.
    expect(html).toMatch(/data-institution-id="ins_linkflow_no_auth"[^>]*data-eligible="false"[^>]*disabled/);

    // Hosted Link: the token points at the same page.
    const hosted = await multiItemLinkToken(plaid, { clientUserId: 'hosted-user', hosted_link: {} });
    const created = await fetch(`${started.url}/link/token/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'PLAID-CLIENT-ID': 'test', 'PLAID-SECRET': 'test' },
      body: JSON.stringify({
        user: { client_user_id: 'hosted-user' },
        user_id: hosted.userId,
        client_name: 'linkflow',
        language: 'en',
        country_codes: ['US'],
        products: ['auth'],
        hosted_link: {},
      }),
    });
    const { hosted_link_url } = (await created.json()) as { hosted_link_url: string };
    expect(hosted_link_url).toMatch(new RegExp(`^${started.url}/__emulator/link\\?link_token=link-sandbox-`));
    expect((await fetch(hosted_link_url)).status).toBe(200);

    const unknown = await fetch(`${started.url}/__emulator/link?link_token=link-sandbox-nope`);
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('INVALID_LINK_TOKEN');
  });

  it('exposes the state over HTTP and forgets everything on reset', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'reset-user' });
    const done = await completeLink(started.url, { link_token: linkToken, institutions: ['ins_109508'] });
    const state = await control(started.url, '/__emulator/state');
    expect(state.status).toBe(200);
    expect(state.body.exchanges).toMatchObject({ [done.public_tokens[0] as string]: 0 });
    expect(state.body.items).toBeGreaterThanOrEqual(1);

    const kidBefore = started.emulator.state();
    expect(kidBefore.items).toBeGreaterThanOrEqual(1);
    const reset = await control(started.url, '/__emulator/reset');
    expect(reset.status).toBe(200);
    expect(started.emulator.state()).toEqual({ exchanges: {}, webhooks: [], items: 0, microdeposits: [] });
    const gone = await plaidFailure(plaid.linkTokenGet({ link_token: linkToken }));
    expect(gone.body.error_code).toBe('INVALID_LINK_TOKEN');
    // The catalogue stays.
    const inst = (await (await fetch(`${started.url}/__emulator/institutions`)).json()) as {
      institutions: unknown[];
    };
    expect(inst.institutions.length).toBeGreaterThanOrEqual(5);
  });

  it('gives the same ids for the same seed and the same calls', async () => {
    const run = async () => {
      const emulator = await createEmulator({ seed: 2024, now: () => Date.parse('2025-01-01T00:00:00Z') });
      const call = (path: string, body: unknown) =>
        emulator.app.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'PLAID-CLIENT-ID': 'c', 'PLAID-SECRET': 's' },
          body: JSON.stringify(body),
        });
      const user = (await (await call('/user/create', { client_user_id: 'seeded' })).json()) as {
        user_id: string;
      };
      const token = (await (
        await call('/link/token/create', {
          user: { client_user_id: 'seeded' },
          user_id: user.user_id,
          client_name: 'x',
          language: 'en',
          country_codes: [CountryCode.Us],
          products: [Products.Transactions],
          enable_multi_item_link: true,
        })
      ).json()) as { link_token: string };
      const done = (await (
        await emulator.app.request('/__emulator/link/complete', {
          method: 'POST',
          body: JSON.stringify({ link_token: token.link_token }),
        })
      ).json()) as { items: Array<{ item_id: string; accounts: Array<{ account_id: string }> }> };
      await emulator.close();
      return { user: user.user_id, token: token.link_token, items: done.items };
    };
    const a = await run();
    expect(await run()).toEqual(a);
    expect(a.items).toHaveLength(3);
  });

  it('reads the user API and retry schedule from the environment', () => {
    const resolved = resolveOptions(
      {},
      { PLAID_EMULATOR_USER_API: 'legacy', PLAID_EMULATOR_WEBHOOK_RETRY_MS: '10, 20,30' },
    );
    expect(resolved.userApi).toBe('legacy');
    expect(resolved.retryDelaysMs).toEqual([10, 20, 30]);
    expect(resolveOptions({ userApi: 'new' }, { PLAID_EMULATOR_USER_API: 'legacy' }).userApi).toBe('new');
    // Plaid's own schedule unless told otherwise: 30 s × 4ⁿ within 24 hours.
    expect(resolveOptions({}, {}).retryDelaysMs).toEqual([
      30_000, 120_000, 480_000, 1_920_000, 7_680_000, 30_720_000,
    ]);
    expect(() => resolveOptions({}, { PLAID_EMULATOR_WEBHOOK_RETRY_MS: 'soon' })).toThrow(/comma list/);
    expect(() => resolveOptions({}, { PLAID_EMULATOR_USER_API: 'old' })).toThrow(/new.*legacy/);
    expect(resolveOptions({}, {}).clientCredentials).toBeNull();
    expect(
      resolveOptions({}, { PLAID_EMULATOR_CLIENT_CREDENTIALS: 'linkflow:s3cret, other:x:y' })
        .clientCredentials,
    ).toEqual({ linkflow: 's3cret', other: 'x:y' });
    expect(() => resolveOptions({}, { PLAID_EMULATOR_CLIENT_CREDENTIALS: 'nosecret' })).toThrow(
      /client_id:secret/,
    );
  });
});
