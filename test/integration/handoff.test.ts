/**
 * Issue 14, done-when, over real HTTP on the real dev server: a session completes; a real
 * receiver gets every event signed (verified with `standardwebhooks`), including through an
 * outage (same webhook-id on every retry); the secrets key reads an access token that works
 * against the emulator, the audit lists the read, the ordinary key gets 403; DELETE removes the
 * Item at Plaid, destroys the token (410) and `item.removed` arrives.
 */
import { randomBytes } from 'node:crypto';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPlaidClient } from '../../src/plaid/client';
import { startEventDelivery } from '../../src/temporal/startEventDelivery';
import type { SessionView } from '../../src/workflows/types';
import { type EventReceiver, startEventReceiver } from '../helpers/eventReceiver';
import {
  type LinkflowStack,
  STACK_PLAID_CLIENT_ID,
  STACK_PLAID_SECRET,
  startLinkflowStack,
  TEST_TIMING,
  waitFor,
} from '../helpers/linkflowStack';
import { connectToTestServer, linkSessionBundle, type TemporalTestContext } from '../helpers/temporal';

const SECRETS_KEY = 'handoff-secrets-key-0123456789abcdef';
// Short retries for the test; the default is 5 s doubling to 1 h, for 72 h.
const FAST_RETRY = { initialIntervalMs: 200, maximumIntervalMs: 1_000, giveUpAfterMs: 600_000 };

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies of many shapes
type Json = any;

let t: TemporalTestContext;
let bundle: WorkflowBundle;
let stack: LinkflowStack | undefined;
let receiver: EventReceiver | undefined;

beforeAll(async () => {
  t = await connectToTestServer();
  bundle = await linkSessionBundle();
});
afterAll(async () => {
  await t?.close();
});
afterEach(async () => {
  await stack?.close();
  await receiver?.close();
  stack = undefined;
  receiver = undefined;
});

async function start() {
  receiver = await startEventReceiver(`whsec_${randomBytes(32).toString('base64')}`);
  stack = await startLinkflowStack({
    temporal: { address: t.address, namespace: t.namespace },
    bundle,
    timing: TEST_TIMING,
    secretsApiKey: SECRETS_KEY,
    events: { url: receiver.url, secret: receiver.secret, retry: FAST_RETRY },
  });
  return { stack, receiver };
}

async function withKey(s: LinkflowStack, key: string, method: string, path: string) {
  const res = await fetch(`${s.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

async function untilStatus(s: LinkflowStack, linkToken: string, status: SessionView['status']) {
  return waitFor(
    `session ${linkToken} ${status}`,
    async () => {
      const res = await s.api<SessionView>('GET', `/link/sessions/${linkToken}`);
      return res.body.status === status ? res.body : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

const typesOf = (r: EventReceiver, sessionId: string) =>
  r
    .delivered()
    .filter((a) => a.body?.data.session_id === sessionId)
    .map((a) => a.body?.type)
    .sort();

const p50 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
};

describe('hand-off of linked Items to the customer’s backend', () => {
  it('events arrive signed; the secrets key reads a working access token (audited); DELETE removes the Item and says so', async () => {
    const { stack: s, receiver: r } = await start();
    const created = await s.api<Json>('POST', '/link/sessions', {
      client_user_id: 'handoff-user-1',
      payment: { product: 'auth' },
    });
    expect(created.status).toBe(201);
    const linkToken = created.body.link_token as string;
    await s.completeLink(linkToken);
    const finishedAt = Date.now();
    const awaiting = await untilStatus(s, linkToken, 'awaiting_payment_account');
    const items = awaiting.items.filter((i) => i.status === 'exchanged');
    expect(items).toHaveLength(3);

    const chosen = await s.api<SessionView>('POST', `/link/sessions/${linkToken}/payment-account`, {
      account_id: awaiting.eligible_accounts[0]?.account_id,
    });
    const chosenAt = Date.now();
    expect(chosen.body.status).toBe('completed');
    await waitFor('every event of the session', () => typesOf(r, linkToken).length >= 6 || undefined);
    expect(typesOf(r, linkToken)).toEqual([
      'item.exchanged',
      'item.exchanged',
      'item.exchanged',
      'link_session.awaiting_payment_account',
      'link_session.completed',
      'payment_account.set_up',
    ]);
    expect(r.attempts.every((a) => a.verified)).toBe(true);
    const exchanged = r.delivered().filter((a) => a.body?.type === 'item.exchanged');
    expect(exchanged.map((a) => a.body?.data.item_id).sort()).toEqual(items.map((i) => i.item_id).sort());
    expect(exchanged.map((a) => a.webhookId).sort()).toEqual(
      items.map((i) => `${linkToken}:item.exchanged:${i.item_id}`).sort(),
    );
    expect(JSON.stringify(r.attempts)).not.toMatch(/access-sandbox-|public-sandbox-|processor-sandbox-/);
    // Measured, not asserted (speed targets belong in `npm run bench`).
    const completed = r.delivered().find((a) => a.body?.type === 'link_session.completed');
    const delivery = r.delivered().map((a) => a.at - Date.parse(a.body?.timestamp ?? ''));
    console.log(
      `[measure] item.exchanged received after SESSION_FINISHED: p50 ${p50(exchanged.map((a) => a.at - finishedAt))} ms (n=${exchanged.length}, includes the exchanges); ` +
        `event decided in the workflow → received: p50 ${p50(delivery)} ms, max ${Math.max(...delivery)} ms (n=${delivery.length}); ` +
        `link_session.completed received ${(completed?.at ?? Number.NaN) - chosenAt} ms after the payment choice answered`,
    );

    // The secrets key reads an access token that works against Plaid (the emulator).
    const itemId = items[0]?.item_id as string;
    const ordinary = await withKey(
      s,
      'chaos-api-key-0123456789abcdef',
      'GET',
      `/items/${itemId}/access-token`,
    );
    expect(ordinary.status).toBe(403);
    const read = await withKey(s, SECRETS_KEY, 'GET', `/items/${itemId}/access-token`);
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBe('no-store');
    const plaid = createPlaidClient({
      basePath: s.emulatorUrl,
      clientId: STACK_PLAID_CLIENT_ID,
      secret: STACK_PLAID_SECRET,
    });
    const accounts = await plaid.accountsGet({ access_token: read.body.access_token });
    expect(accounts.data.item.item_id).toBe(itemId);
    const audit = await withKey(s, SECRETS_KEY, 'GET', `/audit/secret-reads?item_id=${itemId}`);
    expect(audit.body.reads).toEqual([
      expect.objectContaining({
        route: 'GET /items/:item_id/access-token',
        item_id: itemId,
        remote: '127.0.0.1',
      }),
    ]);
    expect((await withKey(s, 'chaos-api-key-0123456789abcdef', 'GET', '/audit/secret-reads')).status).toBe(
      403,
    );

    // The payment step's full ACH numbers, for the account the session chose.
    const credentials = await withKey(
      s,
      SECRETS_KEY,
      'GET',
      `/link/sessions/${linkToken}/payment-account/credentials`,
    );
    expect(credentials.status).toBe(200);
    expect(credentials.body).toMatchObject({
      product: 'auth',
      account_id: chosen.body.payment_account?.account_id,
    });
    expect(String(credentials.body.ach.account).slice(-4)).toBe(
      chosen.body.payment_account?.result.account_last4,
    );

    // The Items API shows the Items; DELETE removes one at Plaid and destroys its token.
    const listed = await s.api<Json>('GET', '/items?client_user_id=handoff-user-1');
    expect(listed.body.items.map((i: Json) => i.status)).toEqual(['active', 'active', 'active']);
    const removed = await s.api<Json>('DELETE', `/items/${itemId}`);
    expect(removed.status).toBe(200);
    expect(removed.body.status).toBe('removed');
    await expect(plaid.accountsGet({ access_token: read.body.access_token })).rejects.toMatchObject({
      response: { data: { error_code: 'INVALID_ACCESS_TOKEN' } },
    });
    expect((await withKey(s, SECRETS_KEY, 'GET', `/items/${itemId}/access-token`)).status).toBe(410);
    await waitFor('item.removed', () =>
      r.delivered().find((a) => a.webhookId === `${linkToken}:item.removed:${itemId}`),
    );
    expect((await s.api<Json>('DELETE', `/items/${itemId}`)).status).toBe(200);

    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    expect(
      Number(/linkflow_outbound_events\{state="delivered"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(7);
  });

  it('a receiver down for a while still gets every event once back, with the same webhook-id on every attempt', async () => {
    const { stack: s, receiver: r } = await start();
    r.setDown(true);
    const created = await s.api<Json>('POST', '/link/sessions', { client_user_id: 'handoff-user-2' });
    const linkToken = created.body.link_token as string;
    await s.completeLink(linkToken, { institutions: ['ins_109508', 'ins_109509'] });
    await untilStatus(s, linkToken, 'completed');
    const mine = () => r.attempts.filter((a) => a.body?.data.session_id === linkToken);
    // Down until every event has been refused at least twice.
    await waitFor('each event refused twice', () => {
      const ids = new Map<string, number>();
      for (const a of mine()) ids.set(a.webhookId, (ids.get(a.webhookId) ?? 0) + 1);
      return ids.size === 3 && [...ids.values()].every((n) => n >= 2) ? true : undefined;
    });
    const metricsDuring = await (await fetch(`${s.apiUrl}/metrics`)).text();
    expect(
      Number(/linkflow_outbound_events\{state="retrying"\} (\d+)/.exec(metricsDuring)?.[1]),
    ).toBeGreaterThanOrEqual(3);
    const upAt = Date.now();
    r.setDown(false);
    await waitFor(
      'every event delivered after the outage',
      () => typesOf(r, linkToken).length >= 3 || undefined,
    );
    expect(typesOf(r, linkToken)).toEqual(['item.exchanged', 'item.exchanged', 'link_session.completed']);

    const byId = new Map<string, typeof r.attempts>();
    for (const a of mine()) byId.set(a.webhookId, [...(byId.get(a.webhookId) ?? []), a]);
    for (const [id, attempts] of byId) {
      expect(
        attempts.filter((a) => a.status === 200),
        id,
      ).toHaveLength(1);
      expect(attempts.at(-1)?.status, id).toBe(200);
      expect(new Set(attempts.map((a) => a.body?.type)).size, id).toBe(1);
      expect(
        attempts.every((a) => a.verified),
        id,
      ).toBe(true);
    }
    const retries = mine().filter((a) => a.status === 503).length;
    const recovery = r
      .delivered()
      .filter((a) => byId.has(a.webhookId))
      .map((a) => a.at - upAt);
    console.log(
      `[measure] outage: ${retries} refused attempts for ${byId.size} events; after the receiver came back, p50 ${p50(recovery)} ms, max ${Math.max(...recovery)} ms to delivery (retry interval capped at ${FAST_RETRY.maximumIntervalMs} ms)`,
    );
    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/linkflow_outbound_events\{state="retrying"\} 0/);
  });

  it('several sessions at once: each event once, verified; measures delivery after SESSION_FINISHED', async () => {
    const { stack: s, receiver: r } = await start();
    const sessions = await Promise.all(
      [1, 2, 3, 4, 5].map(async (n) => {
        const created = await s.api<Json>('POST', '/link/sessions', { client_user_id: `handoff-many-${n}` });
        return created.body.link_token as string;
      }),
    );
    const finishedAt = new Map<string, number>();
    await Promise.all(
      sessions.map(async (linkToken) => {
        await s.completeLink(linkToken, { institutions: ['ins_109508', 'ins_109509'] });
        finishedAt.set(linkToken, Date.now());
      }),
    );
    await waitFor('every session’s events', () =>
      sessions.every((linkToken) => typesOf(r, linkToken).length >= 3) ? true : undefined,
    );
    for (const linkToken of sessions) {
      expect(typesOf(r, linkToken)).toEqual(['item.exchanged', 'item.exchanged', 'link_session.completed']);
    }
    expect(r.attempts.every((a) => a.verified && a.status === 200)).toBe(true);
    expect(new Set(r.attempts.map((a) => a.webhookId)).size).toBe(r.attempts.length);
    const completed = r
      .delivered()
      .filter((a) => a.body?.type === 'link_session.completed')
      .map((a) => a.at - (finishedAt.get(String(a.body?.data.session_id)) ?? Number.NaN));
    const delivery = r.delivered().map((a) => a.at - Date.parse(a.body?.timestamp ?? ''));
    console.log(
      `[measure] 5 concurrent sessions: link_session.completed received after SESSION_FINISHED p50 ${p50(completed)} ms, max ${Math.max(...completed)} ms; ` +
        `event decided → received p50 ${p50(delivery)} ms, max ${Math.max(...delivery)} ms (n=${delivery.length})`,
    );
  });

  it('an event the receiver never takes is given up after LINKFLOW_EVENTS_GIVE_UP_AFTER, visibly', async () => {
    const { stack: s, receiver: r } = await start();
    r.setDown(true);
    const event = {
      id: `test-session:item.removed:item-${randomBytes(4).toString('hex')}`,
      type: 'item.removed' as const,
      timestamp: new Date().toISOString(),
      data: { item_id: 'item-x', status: 'removed' },
    };
    const retry = { initialIntervalMs: 200, maximumIntervalMs: 400, giveUpAfterMs: 2_000 };
    expect(await startEventDelivery(s.client, { taskQueue: s.taskQueue, event, retry })).toBe(true);
    expect(await startEventDelivery(s.client, { taskQueue: s.taskQueue, event, retry })).toBe(false);
    await expect(s.client.workflow.getHandle(event.id).result()).rejects.toMatchObject({
      cause: { type: 'EVENT_GIVEN_UP' },
    });
    const attempts = r.attempts.filter((a) => a.webhookId === event.id);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((a) => a.status === 503 && a.verified)).toBe(true);
    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/linkflow_outbound_events\{state="given_up"\} 1/);
    // Given up is final: the same event is not started again.
    expect(await startEventDelivery(s.client, { taskQueue: s.taskQueue, event, retry })).toBe(false);
  });
});
