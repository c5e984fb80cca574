/** The Items API and the audited secret reads, through app.request() on a real (PGlite) store. */
import { randomUUID } from 'node:crypto';
import type { PlaidApi } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../../src/api/middleware/secretsAuth';
import { buildOpenApiDocument } from '../../src/api/openapi';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, createHarness } from './helpers/harness';

const SECRETS_KEY = 'test-secrets-key-0123456789abcdef';
const uid = (prefix: string) => `${prefix}-${randomUUID()}`;

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies of many shapes
type Json = any;

/** `/item/remove` as Plaid answers it: ok, or a PlaidError body the way axios reports it. */
function fakeItemRemove() {
  const calls: string[] = [];
  let failWith: { status: number; code: string; type: string } | null = null;
  const api = {
    async itemRemove({ access_token }: { access_token: string }) {
      calls.push(access_token);
      if (failWith) {
        const f = failWith;
        throw Object.assign(new Error(`Request failed with status code ${f.status}`), {
          isAxiosError: true,
          response: {
            status: f.status,
            data: {
              error_type: f.type,
              error_code: f.code,
              error_message: `${f.code} from Plaid`,
              request_id: 'req-x',
            },
          },
        });
      }
      return { data: { request_id: 'req-ok' } };
    },
  } as unknown as Pick<PlaidApi, 'itemRemove'>;
  return {
    api,
    calls,
    fail(f: typeof failWith) {
      failWith = f;
    },
  };
}

describe('Items API and secret reads', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  let db: Db;
  let store: ItemStore;

  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
    db = await openDatabase({});
    store = createItemStore(db, createKeyring(generateKeyBase64()));
  });
  afterAll(async () => {
    await db?.close();
    await plaid?.close();
    await t?.close();
  });

  async function linked(clientUserId = uid('client')) {
    const item = {
      publicToken: `public-sandbox-${randomUUID()}`,
      linkToken: `link-sandbox-${randomUUID()}`,
      clientUserId,
      userId: uid('user'),
      itemId: uid('item'),
      accessToken: `access-sandbox-${randomUUID()}`,
    };
    await store.beginExchange(item);
    await store.completeExchange(item);
    await store.saveItemDetails({
      itemId: item.itemId,
      institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
      products: ['auth', 'transactions'],
      accounts: [
        {
          account_id: uid('acc'),
          name: 'Plaid Checking',
          mask: '0000',
          type: 'depository',
          subtype: 'checking',
        },
      ],
    });
    return item;
  }

  function harness(opts: { secretsKey?: string | null; events?: boolean } = {}) {
    const remove = fakeItemRemove();
    const taskQueue = uniqueTaskQueue('api-items');
    const h = createHarness({
      t,
      plaid,
      taskQueue,
      config: { secretsApiKey: opts.secretsKey === undefined ? SECRETS_KEY : opts.secretsKey },
      handoff: {
        store,
        plaid: remove.api,
        events: opts.events
          ? { retry: { initialIntervalMs: 1000, maximumIntervalMs: 1000, giveUpAfterMs: 60_000 } }
          : null,
      },
    });
    const secret = (path: string, key: string | null = SECRETS_KEY) =>
      h.app.request(path, key ? { headers: { authorization: `Bearer ${key}` } } : {});
    return { ...h, remove, secret };
  }

  it('lists a client user’s Items and shows one, without a secret; 401 without the key', async () => {
    const h = harness();
    const clientUserId = uid('client');
    const a = await linked(clientUserId);
    const b = await linked(clientUserId);
    const res = await h.authed(`/items?client_user_id=${clientUserId}`);
    expect(res.status).toBe(200);
    const body: Json = await res.json();
    expect(body.items.map((i: Json) => i.item_id)).toEqual([a.itemId, b.itemId]);
    expect(body.items[0]).toEqual({
      item_id: a.itemId,
      client_user_id: clientUserId,
      session_id: a.linkToken,
      institution: { institution_id: 'ins_109508', name: 'First Platypus Bank' },
      accounts: [
        expect.objectContaining({ name: 'Plaid Checking', mask: '0000', verification_status: null }),
      ],
      products: ['auth', 'transactions'],
      status: 'active',
      error: null,
      created_at: expect.any(String),
      removed_at: null,
    });
    expect(JSON.stringify(body)).not.toMatch(/access-sandbox-|public-sandbox-/);
    const one = await h.authed(`/items/${a.itemId}`);
    expect(await one.json()).toEqual(body.items[0]);
    expect((await h.authed(`/items/${uid('item')}`)).status).toBe(404);
    expect((await h.app.request(`/items/${a.itemId}`)).status).toBe(401);
    expect((await h.app.request(`/items?client_user_id=${clientUserId}`)).status).toBe(401);
    const bad = await h.authed('/items');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.field).toBe('client_user_id');
  });

  it('secret routes: off without LINKFLOW_SECRETS_API_KEY (403 naming it); the API key gets 403; no key 401', async () => {
    const item = await linked();
    const off = harness({ secretsKey: null });
    for (const key of [SECRETS_KEY, API_KEY]) {
      const res = await off.secret(`/items/${item.itemId}/access-token`, key);
      expect(res.status).toBe(403);
      expect(((await res.json()) as Json).error).toMatchObject({
        code: 'SECRETS_API_DISABLED',
        message: expect.stringContaining('LINKFLOW_SECRETS_API_KEY'),
      });
    }
    const on = harness();
    for (const path of [
      `/items/${item.itemId}/access-token`,
      `/link/sessions/${item.linkToken}/payment-account/credentials`,
      '/audit/secret-reads',
    ]) {
      const ordinary = await on.secret(path, API_KEY);
      expect(ordinary.status, path).toBe(403);
      expect(((await ordinary.json()) as Json).error.code).toBe('SECRETS_KEY_REQUIRED');
      expect((await on.secret(path, null)).status, path).toBe(401);
      expect((await on.secret(path, 'not-the-key-0123456789')).status, path).toBe(401);
    }
    // The secrets key does not open the ordinary routes either.
    expect((await on.secret(`/items/${item.itemId}`)).status).toBe(401);
  });

  it('the secrets key reads an access token: no-store, audited before it leaves, never logged', async () => {
    const h = harness();
    const item = await linked();
    const res = await h.app.request(`/items/${item.itemId}/access-token`, {
      headers: { authorization: `Bearer ${SECRETS_KEY}`, 'x-request-id': 'req-secret-1' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ item_id: item.itemId, access_token: item.accessToken });
    expect(h.logs.join('\n')).not.toContain(item.accessToken);
    expect(h.logs.join('\n')).not.toContain(SECRETS_KEY);

    const audit = await h.secret(`/audit/secret-reads?item_id=${item.itemId}`);
    expect(audit.status).toBe(200);
    expect(audit.headers.get('cache-control')).toBe('no-store');
    expect(await audit.json()).toEqual({
      reads: [
        {
          at: expect.any(String),
          key: keyFingerprint(SECRETS_KEY),
          route: 'GET /items/:item_id/access-token',
          item_id: item.itemId,
          session_id: null,
          request_id: 'req-secret-1',
          remote: null,
        },
      ],
    });
    expect(keyFingerprint(SECRETS_KEY)).not.toContain(SECRETS_KEY.slice(0, 8));
    expect((await h.secret(`/items/${uid('item')}/access-token`)).status).toBe(404);
    expect((await h.secret('/audit/secret-reads?limit=0')).status).toBe(400);
  });

  it('the payment step’s full output is readable with the secrets key, and audited', async () => {
    const h = harness();
    const item = await linked();
    expect((await h.secret(`/link/sessions/${item.linkToken}/payment-account/credentials`)).status).toBe(404);
    const accountId = uid('acc');
    await store.savePaymentSetup({
      linkToken: item.linkToken,
      itemId: item.itemId,
      accountId,
      product: 'auth',
      result: { account_last4: '0000' },
    });
    await store.savePaymentCredentials({
      linkToken: item.linkToken,
      itemId: item.itemId,
      secrets: { ach: { account: '1111222233330000', routing: '011401533', wire_routing: '021000021' } },
    });
    const res = await h.secret(`/link/sessions/${item.linkToken}/payment-account/credentials`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      product: 'auth',
      account_id: accountId,
      item_id: item.itemId,
      ach: { account: '1111222233330000', routing: '011401533', wire_routing: '021000021' },
    });
    expect(h.logs.join('\n')).not.toContain('1111222233330000');
    const audit: Json = await (await h.secret(`/audit/secret-reads?session_id=${item.linkToken}`)).json();
    expect(audit.reads).toEqual([
      expect.objectContaining({
        route: 'GET /link/sessions/:session_id/payment-account/credentials',
        session_id: item.linkToken,
        item_id: item.itemId,
      }),
    ]);
  });

  it('DELETE: a Plaid failure changes nothing and says why; then /item/remove, tokens destroyed (410), idempotent', async () => {
    const h = harness();
    const item = await linked();
    h.remove.fail({ status: 500, code: 'INTERNAL_SERVER_ERROR', type: 'API_ERROR' });
    const failed = await h.authed(`/items/${item.itemId}`, { method: 'DELETE' });
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as Json).error).toMatchObject({
      code: 'INTERNAL_SERVER_ERROR',
      message: expect.stringContaining('unchanged'),
      retryable: true,
    });
    expect(((await (await h.authed(`/items/${item.itemId}`)).json()) as Json).status).toBe('active');
    expect((await h.secret(`/items/${item.itemId}/access-token`)).status).toBe(200);

    h.remove.fail(null);
    const removed = await h.authed(`/items/${item.itemId}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    const view: Json = await removed.json();
    expect(view).toMatchObject({ item_id: item.itemId, status: 'removed', removed_at: expect.any(String) });
    expect(h.remove.calls).toEqual([item.accessToken, item.accessToken]);
    const gone = await h.secret(`/items/${item.itemId}/access-token`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as Json).error.code).toBe('ITEM_REMOVED');

    const again = await h.authed(`/items/${item.itemId}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(view);
    expect(h.remove.calls).toHaveLength(2);
    expect((await h.authed(`/items/${uid('item')}`, { method: 'DELETE' })).status).toBe(404);
    expect((await h.app.request(`/items/${item.itemId}`, { method: 'DELETE' })).status).toBe(401);
  });

  it('DELETE after Plaid already forgot the Item (a repeat after a crash) destroys the tokens', async () => {
    const h = harness();
    const item = await linked();
    h.remove.fail({ status: 400, code: 'ITEM_NOT_FOUND', type: 'ITEM_ERROR' });
    const res = await h.authed(`/items/${item.itemId}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect((await h.secret(`/items/${item.itemId}/access-token`)).status).toBe(410);
  });

  it('DELETE with outbound events on starts the item.removed delivery, once, under the event id', async () => {
    const h = harness({ events: true });
    const item = await linked();
    expect((await h.authed(`/items/${item.itemId}`, { method: 'DELETE' })).status).toBe(200);
    const eventId = `${item.linkToken}:item.removed:${item.itemId}`;
    const handle = t.client.workflow.getHandle(eventId);
    const first = await handle.describe();
    expect(first.type).toBe('eventDeliveryWorkflow');
    expect(first.taskQueue).toBe(h.taskQueue);
    // Repeating the removal queues the same event again: a no-op on the running delivery.
    expect((await h.authed(`/items/${item.itemId}`, { method: 'DELETE' })).status).toBe(200);
    expect((await handle.describe()).runId).toBe(first.runId);
    await handle.terminate('test done');
  });

  it('documents every new route in /openapi.json and counts event deliveries in /metrics', async () => {
    const paths = Object.keys((buildOpenApiDocument() as Json).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/items',
        '/items/{item_id}',
        '/items/{item_id}/access-token',
        '/link/sessions/{session_id}/payment-account/credentials',
        '/audit/secret-reads',
      ]),
    );
    const doc: Json = buildOpenApiDocument();
    expect(Object.keys(doc.paths['/items/{item_id}'])).toEqual(expect.arrayContaining(['get', 'delete']));
    const h = harness();
    const metrics = await (await h.app.request('/metrics')).text();
    expect(metrics).toMatch(/linkflow_outbound_events\{state="delivered"\} \d+/);
    expect(metrics).toMatch(/linkflow_outbound_events\{state="given_up"\} \d+/);
  });

  it('the /demo page’s events panel lists a session’s event deliveries (and says when events are off)', async () => {
    const sessionId = `link-sandbox-${randomUUID()}`;
    await store.recordEventAttempt({
      eventId: `${sessionId}:item.exchanged:item-1`,
      type: 'item.exchanged',
      state: 'retrying',
      status: 503,
      error: 'the receiver answered HTTP 503',
    });
    await store.recordEventAttempt({
      eventId: `${sessionId}:item.exchanged:item-1`,
      type: 'item.exchanged',
      state: 'delivered',
      status: 200,
      error: null,
    });
    await store.recordEventAttempt({
      eventId: `${sessionId}x:link_session.completed`,
      type: 'link_session.completed',
      state: 'delivered',
      status: 200,
      error: null,
    });
    const read = (h: ReturnType<typeof harness>) =>
      h.authed(`/demo/api/sessions/${sessionId}/events`, { headers: { 'x-linkflow-demo': '1' } });
    const on: Json = await (await read(harness({ events: true }))).json();
    expect(on).toEqual({
      enabled: true,
      events: [
        {
          id: `${sessionId}:item.exchanged:item-1`,
          type: 'item.exchanged',
          state: 'delivered',
          attempts: 2,
          last_status: 200,
          last_error: null,
        },
      ],
    });
    expect(((await (await read(harness())).json()) as Json).enabled).toBe(false);
  });
});
