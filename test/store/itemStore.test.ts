import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring, generateKeyBase64, keyId } from '../../src/crypto';
import {
  createItemStore,
  type Db,
  ExchangeConflictError,
  IdempotencyKeyConflictError,
  type ItemStore,
  NotFoundError,
  PaymentSetupConflictError,
} from '../../src/store';
import { type DriverCase, drivers, dumpAllRows, type Target } from './drivers';

const uid = (prefix: string) => `${prefix}-${randomUUID()}`;
const publicToken = () => `public-sandbox-${randomUUID()}`;
const accessToken = () => `access-sandbox-${randomUUID()}`;

describe.each(drivers)('item store: $name', (driver: DriverCase) => {
  const keyA = generateKeyBase64();
  const keyring = createKeyring(keyA);
  let target: Target;
  let db: Db;
  let store: ItemStore;

  beforeAll(async () => {
    target = await driver.createTarget();
    db = await target.open();
    store = createItemStore(db, keyring);
  });
  afterAll(async () => {
    await db?.close();
    await target?.dispose();
  });

  /** Exchanges a fresh public token into a fresh item and returns what was used. */
  async function exchanged(linkToken = uid('link')) {
    const item = {
      publicToken: publicToken(),
      linkToken,
      clientUserId: uid('client'),
      userId: uid('user'),
      itemId: uid('item'),
      accessToken: accessToken(),
    };
    await store.beginExchange(item);
    await store.completeExchange(item);
    return item;
  }

  describe('users', () => {
    it('stores the user token encrypted and returns it decrypted', async () => {
      const clientUserId = uid('client');
      const userToken = `user-sandbox-${randomUUID()}`;
      await store.upsertUser({ clientUserId, userId: 'usr-1', userToken });
      expect(await store.getUser(clientUserId)).toEqual({ clientUserId, userId: 'usr-1', userToken });
      expect(await dumpAllRows(db)).not.toContain(userToken);
    });

    it('keeps the token when an update omits it, clears it on null', async () => {
      const clientUserId = uid('client');
      await store.upsertUser({ clientUserId, userId: 'usr-1', userToken: 'user-token-1' });
      await store.upsertUser({ clientUserId, userId: 'usr-2' });
      expect(await store.getUser(clientUserId)).toMatchObject({ userId: 'usr-2', userToken: 'user-token-1' });
      await store.upsertUser({ clientUserId, userId: 'usr-2', userToken: null });
      expect(await store.getUser(clientUserId)).toMatchObject({ userToken: null });
      expect(await store.getUser(uid('nobody'))).toBeNull();
    });
  });

  describe('link sessions', () => {
    it('finds a session by its Idempotency-Key, and treats a replay of the same session as a no-op', async () => {
      const key = uid('idem');
      const session = {
        linkToken: uid('link'),
        clientUserId: uid('client'),
        userId: 'usr-1',
        expiration: '2026-01-01T04:00:00Z',
        idempotencyKey: key,
        requestFingerprint: 'f'.repeat(64),
      };
      expect(await store.findLinkSessionByIdempotencyKey(key)).toBeNull();
      await store.saveLinkSession(session);
      await store.saveLinkSession(session);
      expect(await store.findLinkSessionByIdempotencyKey(key)).toEqual({
        linkToken: session.linkToken,
        clientUserId: session.clientUserId,
        userId: 'usr-1',
        expiration: '2026-01-01T04:00:00Z',
        requestFingerprint: 'f'.repeat(64),
      });
    });

    it('rejects a second session under the same Idempotency-Key, naming the first', async () => {
      const key = uid('idem');
      const clientUserId = uid('client');
      const first = {
        linkToken: uid('link'),
        clientUserId,
        userId: 'u',
        expiration: 'x',
        idempotencyKey: key,
      };
      await store.saveLinkSession(first);
      const error = await store.saveLinkSession({ ...first, linkToken: uid('link') }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(IdempotencyKeyConflictError);
      expect((error as IdempotencyKeyConflictError).existing.linkToken).toBe(first.linkToken);
      expect((await store.listLinkSessions(clientUserId)).map((s) => s.linkToken)).toEqual([first.linkToken]);
    });

    it('lists a user’s sessions newest first, without other users’ sessions', async () => {
      const clientUserId = uid('client');
      for (const suffix of ['a', 'b', 'c']) {
        await store.saveLinkSession({
          linkToken: `link-${clientUserId}-${suffix}`,
          clientUserId,
          userId: 'u',
          expiration: 'x',
        });
      }
      await store.saveLinkSession({
        linkToken: uid('link'),
        clientUserId: uid('client'),
        userId: 'u',
        expiration: 'x',
      });
      const sessions = await store.listLinkSessions(clientUserId);
      expect(sessions.map((s) => s.linkToken)).toEqual(
        ['c', 'b', 'a'].map((x) => `link-${clientUserId}-${x}`),
      );
      for (const s of sessions) expect(new Date(s.createdAt).toISOString()).toBe(s.createdAt);
    });
  });

  describe('the exactly-once exchange guard', () => {
    it('records the intent before the exchange and the item after it', async () => {
      const pt = publicToken();
      const linkToken = uid('link');
      expect(await store.findExchange(pt)).toBeNull();

      await store.beginExchange({ publicToken: pt, linkToken });
      expect(await store.findExchange(pt)).toEqual({
        state: 'pending',
        itemId: null,
        error: null,
        attempts: 1,
      });
      await store.beginExchange({ publicToken: pt, linkToken });
      expect(await store.findExchange(pt)).toMatchObject({ state: 'pending', attempts: 2 });

      const item = {
        publicToken: pt,
        linkToken,
        clientUserId: uid('c'),
        userId: uid('u'),
        itemId: uid('item'),
        accessToken: accessToken(),
      };
      await store.completeExchange(item);
      expect(await store.findExchange(pt)).toMatchObject({
        state: 'exchanged',
        itemId: item.itemId,
        error: null,
      });
      expect(await store.getAccessToken(item.itemId)).toBe(item.accessToken);

      // A later begin (a retried activity) does not reopen an exchanged intent.
      await store.beginExchange({ publicToken: pt, linkToken });
      expect(await store.findExchange(pt)).toMatchObject({
        state: 'exchanged',
        itemId: item.itemId,
        attempts: 2,
      });
    });

    it('never stores a public token, an access token or a processor token in plaintext', async () => {
      const item = await exchanged();
      const failedToken = publicToken();
      await store.beginExchange({ publicToken: failedToken, linkToken: item.linkToken });
      await store.failExchange({
        publicToken: failedToken,
        error: { code: 'INTERNAL_SERVER_ERROR', message: 'x' },
      });
      const processorToken = `processor-sandbox-${randomUUID()}`;
      await store.saveItemDetails({
        itemId: item.itemId,
        institution: { institution_id: 'ins_1', name: 'Bank' },
        products: ['auth'],
        accounts: [
          { account_id: uid('acc'), name: 'Checking', mask: '0000', type: 'depository', subtype: 'checking' },
        ],
      });
      const [account] = (await store.listItems(item.linkToken))[0]?.accounts ?? [];
      await store.savePaymentSetup({
        linkToken: item.linkToken,
        itemId: item.itemId,
        accountId: account?.account_id ?? '',
        product: 'processor',
        processorToken,
        result: { processor: 'dwolla' },
      });

      const everything = await dumpAllRows(db);
      expect(everything).toContain(item.itemId); // the scan does see the rows
      for (const secret of [item.publicToken, item.accessToken, failedToken, processorToken]) {
        expect(everything).not.toContain(secret);
      }
      // …nor any recognisable fragment of the random part of the tokens.
      expect(everything).not.toContain(item.accessToken.slice(-12));
      expect(await store.getProcessorToken(item.linkToken)).toBe(processorToken);
    });

    it('makes completeExchange idempotent for the same item and refuses another item for the token', async () => {
      const item = await exchanged();
      await store.completeExchange(item);
      await expect(store.completeExchange({ ...item, itemId: uid('other-item') })).rejects.toBeInstanceOf(
        ExchangeConflictError,
      );
      const rows = await db.query('SELECT item_id FROM items WHERE link_token = $1', [item.linkToken]);
      expect(rows).toEqual([{ item_id: item.itemId }]);
    });

    it('creates one item when the same token is completed concurrently', async () => {
      const base = {
        publicToken: publicToken(),
        linkToken: uid('link'),
        clientUserId: 'c',
        userId: 'u',
        accessToken: accessToken(),
      };
      await store.beginExchange(base);
      const sameItem = { ...base, itemId: uid('item') };
      await Promise.all(Array.from({ length: 6 }, () => store.completeExchange(sameItem)));
      expect(await db.query('SELECT item_id FROM items WHERE link_token = $1', [base.linkToken])).toEqual([
        { item_id: sameItem.itemId },
      ]);

      // Racing completions that claim different items: exactly one wins, the rest are refused.
      const raced = { ...base, publicToken: publicToken(), linkToken: uid('link') };
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, () => store.completeExchange({ ...raced, itemId: uid('item') })),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(refused.every((o) => o.reason instanceof ExchangeConflictError)).toBe(true);
      const rows = await db.query<{ item_id: string }>('SELECT item_id FROM items WHERE link_token = $1', [
        raced.linkToken,
      ]);
      expect(rows).toHaveLength(1);
      expect(await store.findExchange(raced.publicToken)).toMatchObject({
        state: 'exchanged',
        itemId: rows[0]?.item_id,
      });
    });

    it('records failures, lets a retry reopen them, and never lets a failure override an exchange', async () => {
      const pt = publicToken();
      const linkToken = uid('link');
      const error = { code: 'RATE_LIMIT_EXCEEDED', message: 'slow down' };
      await expect(store.failExchange({ publicToken: pt, error })).rejects.toBeInstanceOf(NotFoundError);

      await store.beginExchange({ publicToken: pt, linkToken });
      await store.failExchange({ publicToken: pt, error });
      expect(await store.findExchange(pt)).toEqual({ state: 'failed', itemId: null, error, attempts: 1 });

      await store.beginExchange({ publicToken: pt, linkToken });
      expect(await store.findExchange(pt)).toMatchObject({ state: 'pending', attempts: 2, error });

      const itemId = uid('item');
      await store.completeExchange({
        publicToken: pt,
        linkToken,
        clientUserId: 'c',
        userId: 'u',
        itemId,
        accessToken: accessToken(),
      });
      await store.failExchange({ publicToken: pt, error });
      expect(await store.findExchange(pt)).toEqual({ state: 'exchanged', itemId, error: null, attempts: 2 });
    });

    it('counts items and intents by state', async () => {
      const before = await store.counts();
      await exchanged();
      const pending = publicToken();
      await store.beginExchange({ publicToken: pending, linkToken: uid('link') });
      const failed = publicToken();
      await store.beginExchange({ publicToken: failed, linkToken: uid('link') });
      await store.failExchange({ publicToken: failed, error: { code: 'X', message: 'y' } });
      const after = await store.counts();
      expect({
        items: after.items - before.items,
        exchanges: after.exchanges - before.exchanges,
        exchanged: after.exchanged - before.exchanged,
        pending: after.pending - before.pending,
        failed: after.failed - before.failed,
      }).toEqual({ items: 1, exchanges: 3, exchanged: 1, pending: 1, failed: 1 });
    });
  });

  describe('access tokens', () => {
    it('decrypts the access token and refuses unknown items', async () => {
      const item = await exchanged();
      expect(await store.getAccessToken(item.itemId)).toBe(item.accessToken);
      await expect(store.getAccessToken(uid('missing'))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('binds each envelope to its item: swapped columns fail to decrypt', async () => {
      const a = await exchanged();
      const b = await exchanged();
      await db.transaction(async (tx) => {
        const rows = await tx.query<{ item_id: string; access_token_enc: string }>(
          'SELECT item_id, access_token_enc FROM items WHERE item_id = ANY($1::text[])',
          [[a.itemId, b.itemId]],
        );
        const encA = rows.find((r) => r.item_id === a.itemId)?.access_token_enc;
        const encB = rows.find((r) => r.item_id === b.itemId)?.access_token_enc;
        await tx.query('UPDATE items SET access_token_enc = $2 WHERE item_id = $1', [a.itemId, encB]);
        await tx.query('UPDATE items SET access_token_enc = $2 WHERE item_id = $1', [b.itemId, encA]);
      });
      await expect(store.getAccessToken(a.itemId)).rejects.toThrow(/decryption failed/);
      await expect(store.getAccessToken(b.itemId)).rejects.toThrow(/decryption failed/);
    });
  });

  describe('item details', () => {
    it('saves institution, products and accounts in order, and lists the session’s items', async () => {
      const linkToken = uid('link');
      const first = await exchanged(linkToken);
      const second = await exchanged(linkToken);
      await exchanged(); // another session's item
      const accounts = [
        { account_id: uid('acc-z'), name: 'Checking', mask: '1111', type: 'depository', subtype: 'checking' },
        { account_id: uid('acc-a'), name: null, mask: null, type: 'credit', subtype: null },
      ];
      await store.saveItemDetails({
        itemId: first.itemId,
        institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
        products: ['auth', 'transactions'],
        accounts,
      });
      // Saving again (a retried activity) updates in place.
      await store.saveItemDetails({
        itemId: first.itemId,
        institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
        products: ['auth', 'transactions'],
        accounts,
      });
      const items = await store.listItems(linkToken);
      expect(items.map((i) => i.itemId).sort()).toEqual([first.itemId, second.itemId].sort());
      expect(items.find((i) => i.itemId === first.itemId)).toMatchObject({
        institutionId: 'ins_109508',
        institutionName: 'First Platypus Bank',
        products: ['auth', 'transactions'],
        status: 'exchanged',
        accounts,
      });
      expect(items.find((i) => i.itemId === second.itemId)).toMatchObject({
        institutionId: null,
        products: [],
        accounts: [],
      });
      await expect(
        store.saveItemDetails({
          itemId: uid('missing'),
          institution: { institution_id: null, name: null },
          products: [],
          accounts: [],
        }),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('payment setups', () => {
    it('keeps the first setup per session: a repeat is a no-op, another account is refused', async () => {
      const item = await exchanged();
      const setup = {
        linkToken: item.linkToken,
        itemId: item.itemId,
        accountId: 'acc-1',
        product: 'auth' as const,
        result: { mask: '0000', numbers: 'ach' },
      };
      expect(await store.getPaymentSetup(item.linkToken)).toBeNull();
      await store.savePaymentSetup(setup);
      await store.savePaymentSetup({ ...setup, result: { mask: '0000', retried: true } });
      expect(await store.getPaymentSetup(item.linkToken)).toEqual({
        itemId: item.itemId,
        accountId: 'acc-1',
        product: 'auth',
        result: { mask: '0000', numbers: 'ach' },
        hasProcessorToken: false,
      });
      await expect(store.savePaymentSetup({ ...setup, accountId: 'acc-2' })).rejects.toBeInstanceOf(
        PaymentSetupConflictError,
      );
      expect(await store.getProcessorToken(item.linkToken)).toBeNull();
      expect(
        await db.query('SELECT count(*) AS n FROM payment_setups WHERE link_token = $1', [item.linkToken]),
      ).toEqual([{ n: 1 }]);
    });
  });

  describe('key rotation (own database)', () => {
    let rdb: Db;
    let rstore: ItemStore;
    let rtarget: Target;
    beforeAll(async () => {
      rtarget = await driver.createTarget();
      rdb = await rtarget.open();
      rstore = createItemStore(rdb, keyring);
    });
    afterAll(async () => {
      await rdb?.close();
      await rtarget?.dispose();
    });

    async function exchangedWith(s: ItemStore) {
      const item = {
        publicToken: publicToken(),
        linkToken: uid('link'),
        clientUserId: uid('client'),
        userId: uid('user'),
        itemId: uid('item'),
        accessToken: accessToken(),
      };
      await s.beginExchange(item);
      await s.completeExchange(item);
      return item;
    }

    it('reads old envelopes with the previous key, writes new ones with the new key, and re-encrypts', async () => {
      const store = rstore;
      const db = rdb;
      const exchanged = () => exchangedWith(store);
      const clientUserId = uid('client');
      await store.upsertUser({ clientUserId, userId: 'u', userToken: 'user-token-old' });
      const old = await exchanged();
      await store.savePaymentSetup({
        linkToken: old.linkToken,
        itemId: old.itemId,
        accountId: 'acc',
        product: 'processor',
        processorToken: 'processor-old',
        result: {},
      });

      const keyB = randomBytes(32);
      const rotated = createItemStore(db, createKeyring(keyB, [keyA]));
      expect(await rotated.getAccessToken(old.itemId)).toBe(old.accessToken);

      const fresh = await exchangedWith(rotated);
      const [row] = await db.query<{ key_id: string; access_token_enc: string }>(
        'SELECT key_id, access_token_enc FROM items WHERE item_id = $1',
        [fresh.itemId],
      );
      expect(row?.key_id).toBe(keyId(keyB));
      expect(row?.access_token_enc.startsWith(`v1:${keyId(keyB)}:`)).toBe(true);
      // The old keyring alone cannot read what the new key wrote.
      await expect(store.getAccessToken(fresh.itemId)).rejects.toThrow(/unknown encryption key id/);

      // Two rows whose envelopes were swapped cannot be decrypted: reported, skipped, left as they are.
      const a = await exchanged();
      const b = await exchanged();
      await db.query(
        `UPDATE items SET access_token_enc = CASE item_id WHEN $1 THEN
           (SELECT access_token_enc FROM items WHERE item_id = $2) ELSE
           (SELECT access_token_enc FROM items WHERE item_id = $1) END
         WHERE item_id IN ($1, $2)`,
        [a.itemId, b.itemId],
      );

      const counts = await rotated.reencryptSecrets();
      expect(counts.failed.map((f) => `${f.table}:${f.key}`).sort()).toEqual(
        [`items:${a.itemId}`, `items:${b.itemId}`].sort(),
      );
      expect(JSON.stringify(counts.failed)).not.toContain(a.accessToken);
      await db.query('DELETE FROM exchange_intents WHERE item_id IN ($1, $2)', [a.itemId, b.itemId]);
      await db.query('DELETE FROM items WHERE item_id IN ($1, $2)', [a.itemId, b.itemId]);
      // Only the rows of the previous key: the old item, the user, the payment setup.
      expect({ items: counts.items, users: counts.users, paymentSetups: counts.paymentSetups }).toEqual({
        items: 1,
        users: 1,
        paymentSetups: 1,
      });
      const stale = await db.query(
        `SELECT key_id FROM items WHERE key_id <> $1
         UNION ALL SELECT key_id FROM users WHERE key_id <> $1
         UNION ALL SELECT key_id FROM payment_setups WHERE key_id <> $1`,
        [keyId(keyB)],
      );
      expect(stale).toEqual([]);

      // After re-encryption the previous key can be dropped.
      const onlyB = createItemStore(db, createKeyring(keyB));
      expect(await onlyB.getAccessToken(old.itemId)).toBe(old.accessToken);
      expect(await onlyB.getUser(clientUserId)).toMatchObject({ userToken: 'user-token-old' });
      expect(await onlyB.getProcessorToken(old.linkToken)).toBe('processor-old');
    });
  });
});
