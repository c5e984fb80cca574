/** The session routes on the real dev server, with the fixture workflow and a fake Plaid. */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSessionWorkflowId } from '../../src/workflows/definitions';
import {
  ClientUserId,
  LinkItemCount,
  LinkSessionStatus,
  PlaidUserId,
} from '../../src/workflows/searchAttributes';
import type { LinkSessionInput, SessionView } from '../../src/workflows/types';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { ELIGIBLE_ACCOUNT_ID, finishSignal, inputQuery } from './fixtures/linkSessionWorkflow';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, createHarness, type Harness, withFixtureWorker } from './helpers/harness';
import { createMemoryRepository } from './helpers/memoryRepository';

interface Created {
  session_id: string;
  link_token: string;
  expiration: string;
  user_id: string;
}
interface ErrorJson {
  error: { code: string; message: string; field?: string; retryable?: boolean };
}

const TIMING = {
  pollAfterMs: 111_000,
  pollEveryMs: 22_000,
  resultsWindowMs: 3_600_000,
  selectionTimeoutMs: 60_000,
};
let userSeq = 0;
const newUser = () => `user-${process.pid}-${Date.now()}-${++userSeq}`;

describe('session routes', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
  });
  afterAll(async () => {
    await plaid?.close();
    await t?.close();
  });

  const harness = (extra: Partial<Parameters<typeof createHarness>[0]> = {}) =>
    createHarness({
      t,
      plaid,
      taskQueue: uniqueTaskQueue('api-sessions'),
      config: { timing: TIMING },
      ...extra,
    });

  describe('authentication', () => {
    it('answers 401 without a key, with a wrong key, or with another scheme, on every session route', async () => {
      const h = harness();
      const routes: Array<[string, string]> = [
        ['POST', '/link/sessions'],
        ['GET', '/link/sessions?client_user_id=x'],
        ['GET', '/link/sessions/link-sandbox-00000000-0000-0000-0000-000000000000'],
        ['POST', '/link/sessions/link-sandbox-00000000-0000-0000-0000-000000000000/payment-account'],
      ];
      for (const [method, path] of routes) {
        for (const authorization of [
          undefined,
          'Bearer wrong-key',
          `Basic ${API_KEY}`,
          `Bearer ${API_KEY}x`,
          'Bearer',
        ]) {
          const res = await h.app.request(path, {
            method,
            headers: { ...(authorization && { authorization }), 'content-type': 'application/json' },
            ...(method === 'POST' && { body: '{}' }),
          });
          expect(res.status, `${method} ${path} with ${authorization}`).toBe(401);
          expect(((await res.json()) as ErrorJson).error.code).toBe('UNAUTHORIZED');
          expect(res.headers.get('www-authenticate')).toContain('Bearer');
        }
      }
      expect(plaid.calls.filter((c) => c.path !== '/webhook_verification_key/get')).toHaveLength(0);
    });
  });

  describe('validation', () => {
    const cases: Array<[string, unknown, string]> = [
      ['missing client_user_id', {}, 'client_user_id'],
      ['empty client_user_id', { client_user_id: '' }, 'client_user_id'],
      ['client_user_id with a control character', { client_user_id: 'a\u0007b' }, 'client_user_id'],
      ['client_user_id of 129 characters', { client_user_id: 'x'.repeat(129) }, 'client_user_id'],
      ['client_user_id not a string', { client_user_id: 42 }, 'client_user_id'],
      ['empty products', { client_user_id: 'u', products: [] }, 'products'],
      ['unknown product', { client_user_id: 'u', products: ['transactions', 'teleport'] }, 'products.1'],
      [
        'unknown optional product',
        { client_user_id: 'u', optional_products: ['nope'] },
        'optional_products.0',
      ],
      ['unknown country', { client_user_id: 'u', country_codes: ['ZZ'] }, 'country_codes.0'],
      ['unknown language', { client_user_id: 'u', language: 'klingon' }, 'language'],
      ['client_name over 30 characters', { client_user_id: 'u', client_name: 'x'.repeat(31) }, 'client_name'],
      ['redirect_uri not a URL', { client_user_id: 'u', redirect_uri: 'not a url' }, 'redirect_uri'],
      ['unknown field', { client_user_id: 'u', colour: 'blue' }, 'colour'],
      [
        'processor without processor',
        { client_user_id: 'u', payment: { product: 'processor' } },
        'payment.processor',
      ],
      ['unknown payment product', { client_user_id: 'u', payment: { product: 'wire' } }, 'payment.product'],
      [
        'transfer without amount',
        {
          client_user_id: 'u',
          payment: { product: 'transfer', type: 'debit', network: 'ach', legal_name: 'A B' },
        },
        'payment.amount',
      ],
      [
        'unknown field in payment',
        { client_user_id: 'u', payment: { product: 'auth', extra: 1 } },
        'payment.extra',
      ],
      ['body not an object', [1, 2], 'body'],
    ];
    it.each(cases)('400 for %s, naming the field', async (_name, body, field) => {
      const h = harness();
      const res = await h.json('/link/sessions', body);
      expect(res.status).toBe(400);
      const json = (await res.json()) as ErrorJson;
      expect(json.error.code).toBe('VALIDATION_ERROR');
      expect(json.error.field).toBe(field);
      expect(json.error.message).toContain(field);
    });

    it('400 for invalid JSON and for a malformed Idempotency-Key', async () => {
      const h = harness();
      const bad = await h.json('/link/sessions', '{"client_user_id":');
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as ErrorJson).error.code).toBe('INVALID_JSON');
      const key = await h.json(
        '/link/sessions',
        { client_user_id: 'u' },
        { headers: { 'idempotency-key': 'has space' } },
      );
      expect(key.status).toBe(400);
      expect(((await key.json()) as ErrorJson).error.field).toBe('Idempotency-Key');
    });
  });

  describe('creating a session', () => {
    it('creates the Plaid user once, a multi-item link token, the workflow with search attributes, and answers 201', async () => {
      const h = harness();
      const user = newUser();
      const before = plaid.calls.length;
      const res = await h.json('/link/sessions', {
        client_user_id: user,
        products: ['transactions'],
        country_codes: ['US', 'CA'],
        payment: { product: 'processor', processor: 'dwolla' },
        redirect_uri: 'https://app.example.com/oauth',
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as Created;
      expect(created.session_id).toMatch(/^link-sandbox-/);
      expect(created.link_token).toBe(created.session_id);
      expect(Object.keys(created).sort()).toEqual(['expiration', 'link_token', 'session_id', 'user_id']);

      const calls = plaid.calls.slice(before);
      expect(calls.map((c) => c.path)).toEqual(['/user/create', '/link/token/create']);
      expect(calls[0]?.body).toMatchObject({ client_user_id: user });
      const tokenRequest = calls[1]?.body as Record<string, unknown>;
      expect(tokenRequest).toMatchObject({
        enable_multi_item_link: true,
        webhook: 'http://127.0.0.1:3000/webhooks/plaid',
        user: { client_user_id: user },
        user_id: created.user_id,
        products: ['transactions'],
        optional_products: ['auth'],
        country_codes: ['US', 'CA'],
        language: 'en',
        client_name: 'linkflow',
        redirect_uri: 'https://app.example.com/oauth',
      });
      expect(tokenRequest).not.toHaveProperty('user_token');

      const handle = t.client.workflow.getHandle(linkSessionWorkflowId(created.link_token));
      const description = await handle.describe();
      expect(description.type).toBe('linkSessionWorkflow');
      expect(description.taskQueue).toBe(h.taskQueue);
      expect(description.typedSearchAttributes.get(ClientUserId)).toBe(user);
      expect(description.typedSearchAttributes.get(PlaidUserId)).toBe(created.user_id);
      expect(description.typedSearchAttributes.get(LinkSessionStatus)).toBe('waiting_for_user');
      expect(description.typedSearchAttributes.get(LinkItemCount)).toBe(0);
      expect(await description.staticSummary()).toBe(`Link session for ${user}`);

      await withFixtureWorker(t, h.taskQueue, async () => {
        const input = (await handle.query(inputQuery)) as LinkSessionInput;
        expect(input).toMatchObject({
          linkToken: created.link_token,
          expiration: created.expiration,
          userId: created.user_id,
          clientUserId: user,
          products: ['transactions'],
          payment: { product: 'processor', processor: 'dwolla' },
          timing: TIMING,
        });
        const view = await h.authed(`/link/sessions/${created.session_id}`);
        expect(view.status).toBe(200);
        expect(await view.json()).toMatchObject({
          session_id: created.session_id,
          status: 'waiting_for_user',
        });
      });

      // The same client user again: no second /user/create.
      const again = await h.json('/link/sessions', { client_user_id: user });
      expect(again.status).toBe(201);
      expect(plaid.calls.slice(before).filter((c) => c.path === '/user/create')).toHaveLength(1);
    });

    it('identifies the user by user_token when /user/create returned one (legacy user API)', async () => {
      const h = harness();
      plaid.legacyUserTokens = true;
      try {
        const before = plaid.calls.length;
        const res = await h.json('/link/sessions', {
          client_user_id: newUser(),
          products: ['auth'],
          payment: { product: 'auth' },
        });
        expect(res.status).toBe(201);
        const tokenRequest = plaid.calls.slice(before).find((c) => c.path === '/link/token/create')?.body;
        expect(tokenRequest?.user_token).toMatch(/^user-sandbox-/);
        expect(tokenRequest).not.toHaveProperty('user_id');
        // auth is already a product: not repeated in optional_products.
        expect(tokenRequest).not.toHaveProperty('optional_products');
        expect(h.logs.join('\n')).not.toContain(String(tokenRequest?.user_token));
      } finally {
        plaid.legacyUserTokens = false;
      }
    });

    it('maps Plaid errors to 502 with Plaid’s code and whether to retry', async () => {
      const h = harness();
      plaid.fail('/link/token/create', {
        status: 400,
        error_type: 'INVALID_REQUEST',
        error_code: 'INVALID_FIELD',
      });
      const bad = await h.json('/link/sessions', { client_user_id: newUser() });
      expect(bad.status).toBe(502);
      expect(((await bad.json()) as ErrorJson).error).toMatchObject({
        code: 'INVALID_FIELD',
        retryable: false,
      });
      plaid.fail('/user/create', {
        status: 429,
        error_type: 'RATE_LIMIT_EXCEEDED',
        error_code: 'RATE_LIMIT',
      });
      const limited = await h.json('/link/sessions', { client_user_id: newUser() });
      expect(limited.status).toBe(502);
      expect(((await limited.json()) as ErrorJson).error).toMatchObject({
        code: 'RATE_LIMIT',
        retryable: true,
      });
      expect(h.repo.sessions).toHaveLength(0);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the same key and body as 200 with the same body and one workflow; another body is 409', async () => {
      const h = harness();
      const key = `idem-${newUser()}`;
      const body = { client_user_id: newUser(), products: ['transactions', 'auth'] };
      const tokenCalls = () => plaid.callsTo('/link/token/create').length;
      const before = tokenCalls();
      const first = await h.json('/link/sessions', body, { headers: { 'idempotency-key': key } });
      expect(first.status).toBe(201);
      const created = await first.json();
      // Same request, fields in another order and defaults spelled out: still the same request.
      const replay = await h.json(
        '/link/sessions',
        { products: ['transactions', 'auth'], country_codes: ['US'], client_user_id: body.client_user_id },
        { headers: { 'idempotency-key': key } },
      );
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.json()).toEqual(created);
      expect(tokenCalls() - before).toBe(1);

      const conflict = await h.json(
        '/link/sessions',
        { ...body, products: ['transactions'] },
        { headers: { 'idempotency-key': key } },
      );
      expect(conflict.status).toBe(409);
      expect(((await conflict.json()) as ErrorJson).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const { executions } = await collect(
        t.client,
        `WorkflowId = '${linkSessionWorkflowId((created as Created).link_token)}'`,
      );
      expect(executions).toBe(1);
    });

    it('serialises concurrent requests with one key into one session', async () => {
      const h = harness();
      const key = `idem-${newUser()}`;
      const body = { client_user_id: newUser() };
      const before = plaid.callsTo('/link/token/create').length;
      const responses = await Promise.all(
        [1, 2, 3, 4].map(() => h.json('/link/sessions', body, { headers: { 'idempotency-key': key } })),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 201]);
      const bodies = await Promise.all(responses.map((r) => r.json()));
      expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
      expect(plaid.callsTo('/link/token/create').length - before).toBe(1);
      expect(h.repo.sessions).toHaveLength(1);
    });

    it('a replay after the session finished answers 200 and does not run the session again', async () => {
      const h = harness();
      const key = `idem-${newUser()}`;
      const body = { client_user_id: newUser() };
      const first = (await (
        await h.json('/link/sessions', body, { headers: { 'idempotency-key': key } })
      ).json()) as Created;
      const handle = t.client.workflow.getHandle(linkSessionWorkflowId(first.session_id));
      await withFixtureWorker(t, h.taskQueue, async () => {
        await handle.signal(finishSignal);
        await handle.result();
      });
      const { runId } = await handle.describe();
      const replay = await h.json('/link/sessions', body, { headers: { 'idempotency-key': key } });
      expect(replay.status).toBe(200);
      expect(await replay.json()).toEqual(first);
      const after = await handle.describe();
      expect(after.runId).toBe(runId);
      expect(after.status.name).toBe('COMPLETED');
    });

    it('a replay after a 503 (Temporal down on the first attempt) starts the workflow', async () => {
      const repo = createMemoryRepository();
      const taskQueue = uniqueTaskQueue('api-sessions-repair');
      const connection = Connection.lazy({ address: '127.0.0.1:1' });
      const down = harness({
        repo,
        taskQueue,
        client: new Client({ connection, namespace: t.namespace }),
        config: { timing: TIMING, temporalTimeoutMs: 300 },
      });
      const up = harness({ repo, taskQueue });
      const key = `idem-${newUser()}`;
      const body = { client_user_id: newUser() };
      try {
        const failed = await down.json('/link/sessions', body, { headers: { 'idempotency-key': key } });
        expect(failed.status).toBe(503);
        expect(((await failed.json()) as ErrorJson).error.code).toBe('TEMPORAL_UNAVAILABLE');
      } finally {
        await connection.close();
      }
      const [saved] = repo.sessions;
      expect(saved).toBeDefined();
      const handle = t.client.workflow.getHandle(linkSessionWorkflowId(saved?.linkToken as string));
      await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      const replay = await up.json('/link/sessions', body, { headers: { 'idempotency-key': key } });
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as Created).session_id).toBe(saved?.linkToken);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });
  });

  describe('reading sessions', () => {
    it('404 for an unknown session, and for malformed ids without asking Temporal', async () => {
      const h = harness();
      const unknown = await h.authed('/link/sessions/link-sandbox-00000000-0000-4000-8000-000000000000');
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as ErrorJson).error.code).toBe('SESSION_NOT_FOUND');

      // With Temporal unreachable, a malformed id still answers 404 at once: Temporal is never asked.
      const connection = Connection.lazy({ address: '127.0.0.1:1' });
      try {
        const offline = harness({
          client: new Client({ connection, namespace: t.namespace }),
          config: { timing: TIMING, temporalTimeoutMs: 300 },
        });
        for (const id of [
          'abc',
          '..%2F..%2Fetc%2Fpasswd',
          'link-sandbox-1234',
          'link-sandbox-00000000-0000-0000-0000-000000000000%00',
          '%20',
        ]) {
          const res = await offline.authed(`/link/sessions/${id}`);
          expect(res.status, id).toBe(404);
          expect(((await res.json()) as ErrorJson).error.code).toBe('SESSION_NOT_FOUND');
        }
        const down = await offline.authed('/link/sessions/link-sandbox-00000000-0000-4000-8000-000000000000');
        expect(down.status).toBe(503);
      } finally {
        await connection.close();
      }
    });

    it('lists a client user’s sessions, newest first', async () => {
      const h = harness();
      const alice = newUser();
      const bob = newUser();
      const ids: string[] = [];
      for (const user of [alice, bob, alice]) {
        const res = await h.json('/link/sessions', { client_user_id: user });
        ids.push(((await res.json()) as Created).session_id);
      }
      await withFixtureWorker(t, h.taskQueue, async () => {
        const res = await h.authed(`/link/sessions?client_user_id=${encodeURIComponent(alice)}`);
        expect(res.status).toBe(200);
        const { sessions } = (await res.json()) as { sessions: SessionView[] };
        expect(sessions.map((s) => s.session_id)).toEqual([ids[2], ids[0]]);
        expect(sessions.every((s) => s.client_user_id === alice && s.status === 'waiting_for_user')).toBe(
          true,
        );
        const none = await h.authed('/link/sessions?client_user_id=nobody-at-all');
        expect(await none.json()).toEqual({ sessions: [] });
      });
      const missing = await h.authed('/link/sessions');
      expect(missing.status).toBe(400);
      expect(((await missing.json()) as ErrorJson).error.field).toBe('client_user_id');
    });
  });

  describe('POST /link/sessions/:id/payment-account', () => {
    it('maps the update: 409 before the choice is due, 422 for an ineligible account, 200 with the view, 409 after', async () => {
      const h: Harness = harness();
      const res = await h.json('/link/sessions', { client_user_id: newUser(), payment: { product: 'auth' } });
      const { session_id } = (await res.json()) as Created;
      const path = `/link/sessions/${session_id}/payment-account`;
      await withFixtureWorker(t, h.taskQueue, async () => {
        const early = await h.json(path, { account_id: ELIGIBLE_ACCOUNT_ID });
        expect(early.status).toBe(409);
        expect(((await early.json()) as ErrorJson).error.code).toBe('NOT_AWAITING_PAYMENT_ACCOUNT');

        const handle = t.client.workflow.getHandle(linkSessionWorkflowId(session_id));
        await handle.signal('sessionFinished', {
          status: 'SUCCESS',
          link_session_id: 'lsid',
          public_tokens: ['public-sandbox-x'],
          received_at: new Date().toISOString(),
        });

        const ineligible = await h.json(path, { account_id: 'acc-credit-card' });
        expect(ineligible.status).toBe(422);
        expect(((await ineligible.json()) as ErrorJson).error.code).toBe('ACCOUNT_NOT_ELIGIBLE');

        const invalid = await h.json(path, { account: ELIGIBLE_ACCOUNT_ID });
        expect(invalid.status).toBe(400);

        const chosen = await h.json(path, { account_id: ELIGIBLE_ACCOUNT_ID });
        expect(chosen.status).toBe(200);
        const view = (await chosen.json()) as SessionView;
        expect(view.payment_account).toMatchObject({ account_id: ELIGIBLE_ACCOUNT_ID, product: 'auth' });
        expect(view.status).toBe('completed');
        await handle.result();

        // The session is over: another choice is refused as "not awaiting", not "not found".
        const late = await h.json(path, { account_id: 'acc-other' });
        expect(late.status).toBe(409);
        // A closed session can still be read.
        const read = await h.authed(`/link/sessions/${session_id}`);
        expect(((await read.json()) as SessionView).payment_account?.account_id).toBe(ELIGIBLE_ACCOUNT_ID);
      });
      const unknown = await h.json(
        '/link/sessions/link-sandbox-00000000-0000-4000-8000-000000000000/payment-account',
        {
          account_id: 'a',
        },
      );
      expect(unknown.status).toBe(404);
    });
  });
});

async function collect(client: Client, query: string): Promise<{ executions: number }> {
  let executions = 0;
  for await (const _ of client.workflow.list({ query })) executions++;
  return { executions };
}
