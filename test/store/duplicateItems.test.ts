/**
 * The duplicate-Item check in the store (issue 15), on both drivers: the comparison with the
 * user's Items and with the user's tokens being exchanged, what is recorded, and the per-user lock
 * that makes concurrent checks of the same bank let exactly one token through.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { sha256Hex } from '../../src/crypto/aesGcm';
import { createItemStore, type Db, type ItemStore } from '../../src/store';
import type { DuplicateCheckInput } from '../../src/store/duplicateItems';
import type { AccountMeta, ItemMetadata } from '../../src/workflows/types';
import { type DriverCase, drivers, type Target } from './drivers';

const uid = (prefix: string) => `${prefix}-${randomUUID()}`;
const publicToken = () => `public-sandbox-${randomUUID()}`;

const account = (name: string, mask: string | null, id = uid('acc')): AccountMeta => ({
  account_id: id,
  name,
  mask,
  type: 'depository',
  subtype: 'checking',
});

const bank = (
  institutionId = 'ins_109508',
  accounts = [account('Plaid Checking', '0000')],
): ItemMetadata => ({
  institution: { institution_id: institutionId, name: 'First Platypus Bank' },
  accounts,
});

describe.each(drivers)('duplicate Items in the store: $name', (driver: DriverCase) => {
  let target: Target;
  let db: Db;
  let store: ItemStore;

  beforeAll(async () => {
    target = await driver.createTarget();
    db = await target.open({ maxConnections: 8 });
    store = createItemStore(db, createKeyring(generateKeyBase64()));
  });
  afterAll(async () => {
    await db?.close();
    await target?.dispose();
  });

  function token(
    clientUserId: string,
    metadata = bank(),
    mode: 'skip' | 'keep' = 'skip',
  ): DuplicateCheckInput {
    return { publicToken: publicToken(), linkToken: uid('link'), clientUserId, metadata, mode };
  }

  /** Checks, and exchanges what the check lets through: the stored Item (described as Link said). */
  async function exchange(t: DuplicateCheckInput, itemId = uid('item')) {
    const outcome = await store.checkDuplicate({ ...t, verdicts: await allLive(t) });
    expect(outcome.kind).toBe('clear');
    await store.completeExchange({
      ...t,
      userId: 'usr',
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
    });
    await store.saveItemDetails({
      itemId,
      institution: t.metadata.institution ?? { institution_id: null, name: null },
      products: ['auth'],
      accounts: t.metadata.accounts,
    });
    return itemId;
  }

  /** Every Item the check asks about is live (a non-OAuth institution). */
  async function allLive(t: DuplicateCheckInput) {
    const first = await store.checkDuplicate(t);
    if (first.kind !== 'verify') return {};
    return Object.fromEntries(first.items.map((i) => [i.itemId, 'live' as const]));
  }

  it('no Item at that institution: the token is let through and its metadata recorded on its intent', async () => {
    const user = uid('client');
    const t = token(user);
    expect(await store.checkDuplicate(t)).toEqual({
      kind: 'clear',
      duplicateOf: null,
      replaces: null,
      overtook: 0,
      ignoredPending: 0,
    });
    const [row] = await db.query<{ client_user_id: string; link_metadata: unknown; state: string }>(
      'SELECT client_user_id, link_metadata, state, dup_checked_at FROM exchange_intents WHERE public_token_sha256 = $1',
      [sha256Hex(t.publicToken)],
    );
    expect(row).toMatchObject({ client_user_id: user, link_metadata: t.metadata, state: 'pending' });
    // Asking again gives the recorded decision.
    expect(await store.checkDuplicate(t)).toMatchObject({ kind: 'clear', duplicateOf: null });
  });

  it('a second token of the same bank waits while the first is being exchanged, then is its duplicate (skip)', async () => {
    const user = uid('client');
    const first = token(user);
    const second = token(
      user,
      bank('ins_109508', [account('Plaid Saving', '1111'), account('Plaid Checking', '0000')]),
    );
    expect((await store.checkDuplicate(first)).kind).toBe('clear');
    expect(await store.checkDuplicate(second)).toMatchObject({ kind: 'wait' });
    // Waiting records nothing: the first never waits for the second.
    expect(await store.findExchange(second.publicToken)).toBeNull();

    const itemId = uid('item');
    await store.completeExchange({
      ...first,
      userId: 'usr',
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
    });
    // Not described yet: Link's metadata recorded on the first intent is what the second is compared with.
    const verify = await store.checkDuplicate(second);
    expect(verify).toEqual({ kind: 'verify', items: [{ itemId, institutionId: 'ins_109508' }] });
    const outcome = await store.checkDuplicate({ ...second, verdicts: { [itemId]: 'live' } });
    expect(outcome).toMatchObject({
      kind: 'duplicate',
      of: itemId,
      original: null,
      error: { code: 'DUPLICATE_ITEM' },
    });
    if (outcome.kind !== 'duplicate') return;
    expect(outcome.error.message).toContain(itemId);
    expect(outcome.error.message).toContain('"Plaid Checking" mask 0000');
    expect(await store.findExchange(second.publicToken)).toMatchObject({
      state: 'duplicate',
      itemId: null,
      duplicateOf: itemId,
      error: { code: 'DUPLICATE_ITEM', message: outcome.error.message, original: null },
    });
    // Settled for good: any later check (another attempt, another worker) finds it settled.
    expect(await store.checkDuplicate({ ...second, verdicts: { [itemId]: 'live' } })).toEqual({
      kind: 'settled',
    });
  });

  it('the original is reported as the store knows it once described; keep records duplicateOf and lets it through', async () => {
    const user = uid('client');
    const original = await exchange(token(user));
    const skipped = token(user);
    const outcome = await store.checkDuplicate({ ...skipped, verdicts: { [original]: 'live' } });
    expect(outcome).toMatchObject({
      kind: 'duplicate',
      of: original,
      original: {
        itemId: original,
        institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
        products: ['auth'],
        accounts: [{ name: 'Plaid Checking', mask: '0000' }],
      },
    });

    const kept = token(user, bank(), 'keep');
    expect(await store.checkDuplicate({ ...kept, verdicts: { [original]: 'live' } })).toMatchObject({
      kind: 'clear',
      duplicateOf: original,
      replaces: null,
    });
    await store.completeExchange({
      ...kept,
      userId: 'usr',
      itemId: uid('item'),
      accessToken: 'access-sandbox-x',
    });
    expect(await store.findExchange(kept.publicToken)).toMatchObject({
      state: 'exchanged',
      duplicateOf: original,
    });
  });

  it('an original without a product the token was linked for (the payment Link: auth) does not make it redundant', async () => {
    const user = uid('client');
    const original = await exchange(token(user));
    // The original is described without auth (a session that asked for no payment).
    await store.saveItemDetails({
      itemId: original,
      institution: bank().institution ?? { institution_id: null, name: null },
      products: ['transactions'],
      accounts: bank().accounts,
    });
    const forPayment = { ...token(user), needs: ['auth'] };
    expect(await store.checkDuplicate({ ...forPayment, verdicts: { [original]: 'live' } })).toMatchObject({
      kind: 'clear',
      duplicateOf: original,
    });
    // Without that need the same match is a skipped duplicate (past the token just let through).
    const plain = { ...token(user), ignorePending: true, verdicts: { [original]: 'live' as const } };
    expect(await store.checkDuplicate(plain)).toMatchObject({
      kind: 'duplicate',
      of: original,
    });
  });

  it('different institution, same names but another mask, or no mask: not duplicates', async () => {
    const user = uid('client');
    await exchange(token(user, bank('ins_109508', [account('Plaid Checking', '0000')])));
    for (const metadata of [
      bank('ins_109509', [account('Plaid Checking', '0000')]),
      bank('ins_109508', [account('Plaid Checking', '9999')]),
      bank('ins_109508', [account('Plaid Checking', null)]),
    ]) {
      expect(await store.checkDuplicate(token(user, metadata))).toMatchObject({
        kind: 'clear',
        duplicateOf: null,
      });
    }
  });

  it("other users' Items, removed Items and failed exchanges do not count", async () => {
    const someoneElse = uid('client');
    await exchange(token(someoneElse));
    const user = uid('client');
    expect(await store.checkDuplicate(token(user))).toMatchObject({ kind: 'clear' });

    const removedUser = uid('client');
    const removed = await exchange(token(removedUser));
    await store.removeItem(removed);
    expect(await store.checkDuplicate(token(removedUser))).toMatchObject({
      kind: 'clear',
      duplicateOf: null,
    });

    const failedUser = uid('client');
    const failed = token(failedUser);
    expect((await store.checkDuplicate(failed)).kind).toBe('clear');
    await store.failExchange({
      publicToken: failed.publicToken,
      error: { code: 'INVALID_PUBLIC_TOKEN', message: 'x' },
    });
    expect(await store.checkDuplicate(token(failedUser))).toMatchObject({ kind: 'clear', duplicateOf: null });
  });

  it('an invalidated original is replaced: recorded, and marked ITEM_REPLACED when the new one is exchanged', async () => {
    const user = uid('client');
    const old = await exchange(token(user));
    const next = token(user);
    expect(await store.checkDuplicate({ ...next, verdicts: { [old]: 'invalidated' } })).toMatchObject({
      kind: 'clear',
      duplicateOf: null,
      replaces: old,
    });
    expect((await store.getItem(old))?.status).toBe('active');
    const fresh = uid('item');
    await store.completeExchange({ ...next, userId: 'usr', itemId: fresh, accessToken: 'access-sandbox-y' });
    expect(await store.findExchange(next.publicToken)).toMatchObject({ state: 'exchanged', replaces: old });
    const replaced = await store.getItem(old);
    expect(replaced).toMatchObject({ status: 'error', error: { code: 'ITEM_REPLACED' } });
    expect(replaced?.error?.message).toContain(fresh);
    expect(replaced?.accounts).toHaveLength(1); // kept, never deleted
    // The replaced Item no longer counts; the replacement does.
    const third = token(user);
    expect(await store.checkDuplicate(third)).toMatchObject({ kind: 'verify', items: [{ itemId: fresh }] });
  });

  it('a token let through that shows no sign of life for 5 minutes no longer holds the others back', async () => {
    const user = uid('client');
    const stalled = token(user);
    expect((await store.checkDuplicate(stalled)).kind).toBe('clear');
    await db.query(
      `UPDATE exchange_intents SET updated_at = now() - interval '6 minutes' WHERE public_token_sha256 = $1`,
      [sha256Hex(stalled.publicToken)],
    );
    expect(await store.checkDuplicate(token(user))).toMatchObject({ kind: 'clear', overtook: 1 });
  });

  it('the last attempt is let through past a token still being exchanged (never lost waiting)', async () => {
    const user = uid('client');
    expect((await store.checkDuplicate(token(user))).kind).toBe('clear');
    expect(await store.checkDuplicate({ ...token(user), ignorePending: true })).toMatchObject({
      kind: 'clear',
      ignoredPending: 1,
    });
  });

  it('race: eight concurrent checks of the same bank for one user let exactly one through; the others wait', async () => {
    const user = uid('client');
    const tokens = Array.from({ length: 8 }, () => token(user));
    const outcomes = await Promise.all(tokens.map((t) => store.checkDuplicate(t)));
    expect(outcomes.filter((o) => o.kind === 'clear')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'wait')).toHaveLength(7);
    const recorded = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM exchange_intents WHERE client_user_id = $1 AND dup_checked_at IS NOT NULL',
      [user],
    );
    expect(recorded[0]?.n).toBe(1);
  });
});
