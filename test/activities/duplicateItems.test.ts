/**
 * The exchange activity's duplicate-Item check (issue 15) against the Plaid emulator over HTTP and
 * a real store (PGlite), outside Temporal: each call is one activity attempt, and an attempt that
 * throws a retryable failure is attempted again, as Temporal would. The emulator's `exchanges`
 * count per public token proves a duplicate was never exchanged.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { CountryCode, type PlaidApi, Products } from 'plaid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Attempt } from '../../src/activities/attempt';
import { describeItem } from '../../src/activities/describeItem';
import { exchangePublicToken } from '../../src/activities/exchangePublicToken';
import type { ActivityDeps } from '../../src/activities/index';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import type { ExchangePublicTokenInput } from '../../src/workflows/activityTypes';
import type { ExchangeResult } from '../../src/workflows/types';
import { completeLink } from '../emulator/helpers';

const OAUTH_BANK = 'ins_linkflow_oauth_one_login';

let emulator: StartedEmulator;
let plaid: PlaidApi;
let db: Db;
let store: ItemStore;
/** Plaid calls the activities made, per method. */
const calls: Record<string, number> = {};

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: 15 });
  const client = createPlaidClient({ basePath: emulator.url, clientId: 'dups', secret: 'dups-secret' });
  plaid = new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  db = await openDatabase({});
  store = createItemStore(db, createKeyring(generateKeyBase64()));
});
beforeEach(() => {
  for (const k of Object.keys(calls)) delete calls[k];
});
afterAll(async () => {
  await db?.close();
  await emulator?.close();
});

const deps = (mode?: 'skip' | 'keep'): ActivityDeps => ({
  plaid,
  store,
  ...(mode && { duplicateItems: mode }),
});

let attempts = 0;
function attempt(): Attempt {
  attempts += 1;
  return { owner: `wf-dups/exchange#${attempts}`, cancellation: new AbortController().signal };
}

/** An end user (one `/user/create`) who can go through Link any number of times. */
async function endUser() {
  const clientUserId = `dups-${randomUUID()}`;
  const { user_id: userId } = (await plaid.userCreate({ client_user_id: clientUserId })).data;
  return {
    clientUserId,
    userId,
    /** One Multi-Item Link session picking these institutions: the exchange inputs of its tokens. */
    async link(institutions: string[]): Promise<ExchangePublicTokenInput[]> {
      const { link_token: linkToken } = (
        await plaid.linkTokenCreate({
          user: { client_user_id: clientUserId },
          user_id: userId,
          client_name: 'linkflow tests',
          language: 'en',
          country_codes: [CountryCode.Us],
          products: [Products.Transactions],
          optional_products: [Products.Auth],
          enable_multi_item_link: true,
        })
      ).data;
      const done = await completeLink(emulator.url, { link_token: linkToken, institutions });
      return done.public_tokens.map((publicToken) => ({
        linkToken,
        publicToken,
        clientUserId,
        userId,
        duplicateCheck: { resultsLinkToken: linkToken, metadata: null },
      }));
    },
  };
}

/**
 * One exchange as Temporal runs it: attempts until one returns; a retryable failure starts the
 * next attempt once `before` (the other exchange it may be waiting for) has settled.
 */
async function exchange(
  d: ActivityDeps,
  input: ExchangePublicTokenInput,
  before?: Promise<unknown>,
): Promise<{ result: ExchangeResult; retriedFor: string[] }> {
  const retriedFor: string[] = [];
  for (let i = 0; i < 5; i++) {
    try {
      return { result: await exchangePublicToken(d, input, attempt()), retriedFor };
    } catch (err) {
      if (!(err instanceof ApplicationFailure) || err.nonRetryable) throw err;
      retriedFor.push(err.type ?? '?');
      await before?.catch(() => undefined);
    }
  }
  throw new Error(`no result after 5 attempts: ${retriedFor.join(', ')}`);
}

const exchangesAtPlaid = (publicToken: string) => emulator.emulator.state().exchanges[publicToken] ?? 0;

describe('duplicate Items: LINKFLOW_DUPLICATE_ITEMS=skip (default)', () => {
  it('the same bank twice in one session, exchanged at once: exactly one exchanged, the other its recorded duplicate', async () => {
    const user = await endUser();
    const [a, b] = await user.link(['ins_109508', 'ins_109508']);
    if (!a || !b) throw new Error('two tokens expected');
    // Both attempts start together; each retries (as Temporal would) once the other has settled.
    let settleA: (v: unknown) => void = () => undefined;
    let settleB: (v: unknown) => void = () => undefined;
    const aDone = new Promise((r) => {
      settleA = r;
    });
    const bDone = new Promise((r) => {
      settleB = r;
    });
    const [ra, rb] = await Promise.all([
      exchange(deps(), a, bDone).finally(() => settleA(null)),
      exchange(deps(), b, aDone).finally(() => settleB(null)),
    ]);
    const results = [ra.result, rb.result];
    const exchanged = results.filter((r) => r.ok);
    const skipped = results.filter((r) => !r.ok);
    expect(exchanged).toHaveLength(1);
    expect(skipped).toHaveLength(1);
    const original = exchanged[0];
    const duplicate = skipped[0];
    if (!original?.ok || !duplicate || duplicate.ok) throw new Error('unreachable');
    expect(duplicate).toEqual({
      ok: false,
      error: { code: 'DUPLICATE_ITEM', message: expect.stringContaining(original.itemId), retryable: false },
      duplicate: { of: original.itemId, original: null },
    });
    // The one that waited was told why.
    expect([...ra.retriedFor, ...rb.retriedFor]).toContain('DUPLICATE_CHECK_PENDING');
    // Plaid exchanged exactly one of the two public tokens, once.
    expect(exchangesAtPlaid(a.publicToken) + exchangesAtPlaid(b.publicToken)).toBe(1);
    // Link's metadata came from /link/token/get, read once for both Items of the session.
    expect(calls.linkTokenGet).toBe(1);

    // Every retry (here or on another worker) returns the recorded answer, and never exchanges.
    const loser = ra.result.ok ? b : a;
    expect(await exchangePublicToken(deps(), loser, attempt())).toEqual(duplicate);
    expect(await exchangePublicToken(deps('keep'), loser, attempt())).toEqual(duplicate);
    expect(exchangesAtPlaid(loser.publicToken)).toBe(0);
    expect(await store.findExchange(loser.publicToken)).toMatchObject({
      state: 'duplicate',
      duplicateOf: original.itemId,
    });
  });

  it('the same bank again in a later session: not exchanged; the original is reported as the store knows it', async () => {
    const user = await endUser();
    const [first] = await user.link(['ins_109509']);
    if (!first) throw new Error('no token');
    const { result } = await exchange(deps(), first);
    if (!result.ok) throw new Error(`first exchange failed: ${result.error.code}`);
    const details = await describeItem(deps(), { itemId: result.itemId });

    // Another bank in the same later session is exchanged as usual.
    const [again, other] = await user.link(['ins_109509', 'ins_109510']);
    if (!again || !other) throw new Error('no tokens');
    const skipped = await exchangePublicToken(deps(), again, attempt());
    expect(skipped).toEqual({
      ok: false,
      error: { code: 'DUPLICATE_ITEM', message: expect.stringContaining(result.itemId), retryable: false },
      duplicate: { of: result.itemId, original: { ...details, accounts: expect.any(Array) } },
    });
    if (skipped.ok) return;
    expect(skipped.duplicate?.original?.accounts.map((a) => [a.name, a.mask])).toEqual(
      details.accounts.map((a) => [a.name, a.mask]),
    );
    expect(exchangesAtPlaid(again.publicToken)).toBe(0);
    expect(await exchangePublicToken(deps(), other, attempt())).toMatchObject({ ok: true });
    expect(exchangesAtPlaid(other.publicToken)).toBe(1);
  });

  it('metadata given by the workflow: compared without reading /link/token/get', async () => {
    const user = await endUser();
    const [first] = await user.link(['ins_109511']);
    if (!first) throw new Error('no token');
    const { result } = await exchange(deps(), first);
    if (!result.ok) throw new Error('first exchange failed');
    const [again] = await user.link(['ins_109511']);
    if (!again) throw new Error('no token');
    for (const k of Object.keys(calls)) delete calls[k];
    const given = {
      ...again,
      duplicateCheck: {
        resultsLinkToken: again.linkToken,
        metadata: {
          institution: { institution_id: 'ins_109511', name: 'Tartan Bank' },
          accounts: [
            { account_id: 'x', name: 'Plaid Saving', mask: '1111', type: 'depository', subtype: 'savings' },
          ],
        },
      },
    };
    expect(await exchangePublicToken(deps(), given, attempt())).toMatchObject({
      ok: false,
      duplicate: { of: result.itemId },
    });
    expect(calls.linkTokenGet ?? 0).toBe(0);
  });

  it('metadata that cannot be found does not block: the token is exchanged unchecked', async () => {
    const user = await endUser();
    const [first] = await user.link(['ins_109512']);
    const [again] = await user.link(['ins_109512']);
    if (!first || !again) throw new Error('no tokens');
    expect((await exchange(deps(), first)).result).toMatchObject({ ok: true });
    // A results link token that does not list this public token.
    const lost = { ...again, duplicateCheck: { resultsLinkToken: first.linkToken, metadata: null } };
    expect(await exchangePublicToken(deps(), lost, attempt())).toMatchObject({ ok: true });
    expect(exchangesAtPlaid(again.publicToken)).toBe(1);
  });

  it('without duplicateCheck (histories from before the check) nothing is compared', async () => {
    const user = await endUser();
    const [first, again] = await user.link(['ins_109508', 'ins_109508']);
    if (!first || !again) throw new Error('no tokens');
    const { duplicateCheck: _a, ...plainFirst } = first;
    const { duplicateCheck: _b, ...plainAgain } = again;
    expect(await exchangePublicToken(deps(), plainFirst, attempt())).toMatchObject({ ok: true });
    expect(await exchangePublicToken(deps(), plainAgain, attempt())).toMatchObject({ ok: true });
    expect(calls.linkTokenGet ?? 0).toBe(0);
  });
});

describe('duplicate Items: LINKFLOW_DUPLICATE_ITEMS=keep', () => {
  it('exchanges the duplicate and says which Item it duplicates, on every retry too', async () => {
    const user = await endUser();
    const [first] = await user.link(['ins_109508']);
    if (!first) throw new Error('no token');
    const { result } = await exchange(deps('keep'), first);
    if (!result.ok) throw new Error('first exchange failed');
    expect(result.duplicateOf).toBeUndefined();
    const [again] = await user.link(['ins_109508']);
    if (!again) throw new Error('no token');
    const kept = await exchangePublicToken(deps('keep'), again, attempt());
    expect(kept).toEqual({ ok: true, itemId: expect.any(String), duplicateOf: result.itemId });
    expect(exchangesAtPlaid(again.publicToken)).toBe(1);
    expect(await exchangePublicToken(deps('keep'), again, attempt())).toEqual(kept);
  });
});

describe('duplicate Items at an OAuth institution with one Item per login', () => {
  it('linking the same login again invalidated the older Item: the new one is exchanged and replaces it', async () => {
    const user = await endUser();
    const [first] = await user.link([OAUTH_BANK]);
    if (!first) throw new Error('no token');
    const { result: old } = await exchange(deps(), first);
    if (!old.ok) throw new Error('first exchange failed');
    const oldAccess = await store.getAccessToken(old.itemId);
    expect((await plaid.itemGet({ access_token: oldAccess })).data.item.error).toBeNull();

    const [again] = await user.link([OAUTH_BANK]);
    if (!again) throw new Error('no token');
    // The emulator did what Plaid documents: the older Item of that login is in ITEM_LOGIN_REQUIRED.
    expect((await plaid.itemGet({ access_token: oldAccess })).data.item.error?.error_code).toBe(
      'ITEM_LOGIN_REQUIRED',
    );
    const replacing = await exchangePublicToken(deps(), again, attempt());
    expect(replacing).toEqual({ ok: true, itemId: expect.any(String), replaces: old.itemId });
    expect(exchangesAtPlaid(again.publicToken)).toBe(1);
    expect(calls.institutionsGetById).toBe(1);
    // The old Item is kept, marked, never deleted.
    const marked = await store.getItem(old.itemId);
    expect(marked).toMatchObject({ status: 'error', error: { code: 'ITEM_REPLACED' } });
    expect(marked?.error?.message).toContain(replacing.ok ? replacing.itemId : '?');
    expect(await store.getAccessToken(old.itemId)).toBe(oldAccess);
    // A retry returns the same.
    expect(await exchangePublicToken(deps(), again, attempt())).toEqual(replacing);
  });

  it('a healthy Item at the OAuth institution is still a duplicate', async () => {
    const user = await endUser();
    const [first] = await user.link([OAUTH_BANK]);
    if (!first) throw new Error('no token');
    const { result: original } = await exchange(deps(), first);
    if (!original.ok) throw new Error('first exchange failed');
    // Given metadata for a token of another bank's login flow that matches it (no new Item at the
    // OAuth bank, so the original stays healthy), e.g. an account shared by two logins.
    const [other] = await user.link(['ins_109508']);
    if (!other) throw new Error('no token');
    const matching = {
      ...other,
      duplicateCheck: {
        resultsLinkToken: other.linkToken,
        metadata: {
          institution: { institution_id: OAUTH_BANK, name: 'Madras Bank' },
          accounts: [
            {
              account_id: 'y',
              name: 'Madras Checking',
              mask: '3141',
              type: 'depository',
              subtype: 'checking',
            },
          ],
        },
      },
    };
    expect(await exchangePublicToken(deps(), matching, attempt())).toMatchObject({
      ok: false,
      error: { code: 'DUPLICATE_ITEM' },
      duplicate: { of: original.itemId },
    });
    expect(exchangesAtPlaid(other.publicToken)).toBe(0);
    expect((await store.getItem(original.itemId))?.status).toBe('active');
  });
});
