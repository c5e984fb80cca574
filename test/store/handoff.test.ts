import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { createItemStore, type Db, type ItemStore } from '../../src/store';
import { type DriverCase, drivers, dumpAllRows, type Target } from './drivers';

const uid = (prefix: string) => `${prefix}-${randomUUID()}`;

describe.each(drivers)('hand-off store: $name', (driver: DriverCase) => {
  const oldKey = generateKeyBase64();
  const keyring = createKeyring(oldKey);
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

  async function linkedItem(clientUserId = uid('client')) {
    const item = {
      publicToken: `public-sandbox-${randomUUID()}`,
      linkToken: uid('link'),
      clientUserId,
      userId: uid('user'),
      itemId: uid('item'),
      accessToken: `access-sandbox-${randomUUID()}`,
    };
    await store.beginExchange(item);
    await store.completeExchange(item);
    await store.saveItemDetails({
      itemId: item.itemId,
      institution: { institution_id: 'ins_1', name: 'First Platypus Bank' },
      products: ['auth', 'transactions'],
      accounts: [
        { account_id: uid('acc'), name: 'Checking', mask: '0000', type: 'depository', subtype: 'checking' },
      ],
    });
    return item;
  }

  it('lists a client user’s Items with accounts and status, and shows one Item', async () => {
    const clientUserId = uid('client');
    const a = await linkedItem(clientUserId);
    const b = await linkedItem(clientUserId);
    await linkedItem();
    const listed = await store.listItemsOfClientUser(clientUserId);
    expect(listed.map((i) => i.itemId)).toEqual([a.itemId, b.itemId]);
    const one = await store.getItem(a.itemId);
    expect(one).toMatchObject({
      itemId: a.itemId,
      clientUserId,
      sessionId: a.linkToken,
      institution: { institution_id: 'ins_1', name: 'First Platypus Bank' },
      products: ['auth', 'transactions'],
      status: 'active',
      error: null,
      removedAt: null,
    });
    expect(one?.accounts).toHaveLength(1);
    expect(await store.getItem(uid('item'))).toBeNull();
    expect(JSON.stringify(listed)).not.toContain(a.accessToken);
  });

  it('removing an Item deletes the ciphertext of its access token, processor token and credentials; again is a no-op', async () => {
    const item = await linkedItem();
    const accountId = uid('acc');
    await store.savePaymentSetup({
      linkToken: item.linkToken,
      itemId: item.itemId,
      accountId,
      product: 'processor',
      processorToken: 'processor-sandbox-secret-1',
      result: { processor: 'dwolla' },
    });
    await store.savePaymentCredentials({
      linkToken: item.linkToken,
      itemId: item.itemId,
      secrets: { ach: { account: '1111222233330000', routing: '011401533', wire_routing: '021000021' } },
    });
    expect(await store.readAccessToken(item.itemId)).toEqual({
      state: 'active',
      accessToken: item.accessToken,
    });
    const before = await store.readPaymentCredentials(item.linkToken);
    expect(before).toEqual({
      state: 'found',
      credentials: {
        product: 'processor',
        account_id: accountId,
        item_id: item.itemId,
        ach: { account: '1111222233330000', routing: '011401533', wire_routing: '021000021' },
        processor_token: 'processor-sandbox-secret-1',
      },
    });
    const [envelopes] = await db.query<{ enc: string }>(
      'SELECT access_token_enc AS enc FROM items WHERE item_id = $1',
      [item.itemId],
    );

    const removed = await store.removeItem(item.itemId);
    expect(removed).toMatchObject({ itemId: item.itemId, status: 'removed' });
    expect(removed?.removedAt).toEqual(expect.any(String));
    expect(await store.readAccessToken(item.itemId)).toEqual({
      state: 'removed',
      removedAt: removed?.removedAt,
    });
    expect(await store.readPaymentCredentials(item.linkToken)).toEqual({
      state: 'removed',
      itemId: item.itemId,
    });
    await expect(store.getAccessToken(item.itemId)).rejects.toThrow(/removed/);
    const rows = await dumpAllRows(db);
    expect(rows).not.toContain(envelopes?.enc);
    expect(rows).not.toContain('1111222233330000');
    const [setup] = await db.query(
      'SELECT processor_token_enc, key_id FROM payment_setups WHERE link_token = $1',
      [item.linkToken],
    );
    expect(setup).toEqual({ processor_token_enc: null, key_id: null });

    const again = await store.removeItem(item.itemId);
    expect(again).toEqual(removed);
    expect(await store.removeItem(uid('item'))).toBeNull();
    expect(await store.readAccessToken(uid('item'))).toEqual({ state: 'missing' });
  });

  it('keeps full ACH numbers and authorizations only as envelopes', async () => {
    const item = await linkedItem();
    await store.savePaymentSetup({
      linkToken: item.linkToken,
      itemId: item.itemId,
      accountId: 'acc-t',
      product: 'transfer',
      result: { authorization_id: 'auth-1' },
    });
    const authorization = { id: 'auth-1', decision: 'approved', proposed_transfer: { amount: '25.00' } };
    await store.savePaymentCredentials({
      linkToken: item.linkToken,
      itemId: item.itemId,
      secrets: { authorization },
    });
    // The first write wins: a retried payment step changes nothing.
    await store.savePaymentCredentials({
      linkToken: item.linkToken,
      itemId: item.itemId,
      secrets: { authorization: { id: 'other' } },
    });
    const read = await store.readPaymentCredentials(item.linkToken);
    expect(read).toEqual({
      state: 'found',
      credentials: { product: 'transfer', account_id: 'acc-t', item_id: item.itemId, authorization },
    });
    const [row] = await db.query<{ secret_enc: string }>(
      'SELECT secret_enc FROM payment_credentials WHERE link_token = $1',
      [item.linkToken],
    );
    expect(row?.secret_enc).toMatch(/^v1:/);
    expect(row?.secret_enc).not.toContain('approved');
    expect(await store.readPaymentCredentials(uid('link'))).toEqual({ state: 'missing' });
  });

  it('payment credentials follow a key rotation (re-encrypted, then readable with the new key alone)', async () => {
    const item = await linkedItem();
    await store.savePaymentSetup({
      linkToken: item.linkToken,
      itemId: item.itemId,
      accountId: 'acc-r',
      product: 'auth',
      result: {},
    });
    const ach = { account: '9999000011112222', routing: '011401533', wire_routing: null };
    await store.savePaymentCredentials({ linkToken: item.linkToken, itemId: item.itemId, secrets: { ach } });
    const newKey = generateKeyBase64();
    const rotated = createItemStore(db, createKeyring(newKey, [oldKey]));
    const counts = await rotated.reencryptSecrets();
    expect(counts.paymentCredentials).toBeGreaterThanOrEqual(1);
    expect(counts.failed).toEqual([]);
    const onlyNew = createItemStore(db, createKeyring(newKey));
    expect(await onlyNew.readPaymentCredentials(item.linkToken)).toMatchObject({
      state: 'found',
      credentials: { ach },
    });
    expect(await onlyNew.readAccessToken(item.itemId)).toEqual({
      state: 'active',
      accessToken: item.accessToken,
    });
    store = onlyNew;
  });

  it('the secret-read audit is append-only and lists reads newest first', async () => {
    const itemId = uid('item');
    await store.recordSecretRead({
      key: 'k-1',
      route: 'GET /items/:item_id/access-token',
      item_id: itemId,
      session_id: null,
      request_id: 'req-1',
      remote: '127.0.0.1',
    });
    await store.recordSecretRead({
      key: 'k-1',
      route: 'GET /items/:item_id/access-token',
      item_id: itemId,
      session_id: null,
      request_id: 'req-2',
      remote: null,
    });
    const reads = await store.listSecretReads({ itemId });
    expect(reads.map((r) => r.request_id)).toEqual(['req-2', 'req-1']);
    expect(reads[0]).toMatchObject({ key: 'k-1', item_id: itemId, at: expect.any(String) });
    await expect(
      db.query('UPDATE secret_reads SET key_id = $1 WHERE item_id = $2', ['x', itemId]),
    ).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM secret_reads WHERE item_id = $1', [itemId])).rejects.toThrow(
      /append-only/,
    );
    expect(await store.listSecretReads({ itemId })).toHaveLength(2);
  });

  it('counts event deliveries by state; a delivered event stays delivered', async () => {
    const before = await store.eventDeliveryCounts();
    const a = uid('evt');
    const b = uid('evt');
    await store.recordEventAttempt({
      eventId: a,
      type: 'item.exchanged',
      state: 'retrying',
      status: 503,
      error: 'HTTP 503',
    });
    await store.recordEventAttempt({
      eventId: a,
      type: 'item.exchanged',
      state: 'delivered',
      status: 200,
      error: null,
    });
    await store.recordEventAttempt({
      eventId: a,
      type: 'item.exchanged',
      state: 'retrying',
      status: 503,
      error: 'late',
    });
    await store.recordEventAttempt({
      eventId: b,
      type: 'item.removed',
      state: 'retrying',
      status: null,
      error: 'ECONNREFUSED',
    });
    await store.recordEventAttempt({
      eventId: b,
      type: 'item.removed',
      state: 'given_up',
      status: null,
      error: 'gave up',
    });
    const after = await store.eventDeliveryCounts();
    expect(after.delivered - before.delivered).toBe(1);
    expect(after.given_up - before.given_up).toBe(1);
    expect(after.retrying - before.retrying).toBe(0);
    expect(after.attempts - before.attempts).toBe(4);
  });
});
