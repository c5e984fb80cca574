/**
 * End to end over real HTTP: sessions created through the API, the emulator delivering signed
 * webhooks to the API, which verifies them and signals the workflow on the real dev server.
 */
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getSessionQuery, linkSessionWorkflowId } from '../../src/workflows/definitions';
import type { SessionView } from '../../src/workflows/types';
import {
  type LinkflowStack,
  settledView,
  startLinkflowStack,
  TEST_TIMING,
  waitFor,
} from '../helpers/linkflowStack';
import { connectToTestServer, linkSessionBundle, type TemporalTestContext } from '../helpers/temporal';

let t: TemporalTestContext;
let bundle: WorkflowBundle;
let stack: LinkflowStack;

beforeAll(async () => {
  t = await connectToTestServer();
  bundle = await linkSessionBundle();
});
afterAll(async () => {
  await t?.close();
});
afterEach(async () => {
  await stack?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies of many shapes
type Json = any;

/** A stack whose webhooks reach the real API (verified), and its authenticated API calls. */
async function api() {
  stack = await startLinkflowStack({
    temporal: { address: t.address, namespace: t.namespace },
    bundle,
    timing: TEST_TIMING,
  });
  return { call: (method: string, path: string, body?: unknown) => stack.api<Json>(method, path, body) };
}

async function sessionView(linkToken: string): Promise<SessionView> {
  const res = await stack.api<SessionView>('GET', `/link/sessions/${linkToken}`);
  if (res.status !== 200) throw new Error(`GET session -> ${res.status}`);
  return res.body;
}

async function untilStatus(linkToken: string, status: SessionView['status']): Promise<SessionView> {
  await expect
    .poll(async () => (await sessionView(linkToken)).status, { timeout: 30_000, interval: 100 })
    .toBe(status);
  return sessionView(linkToken);
}

describe('end to end over HTTP', () => {
  it('a three-Item session completes through verified webhooks, the API and the workflow', async () => {
    const a = await api();
    const created = await a.call('POST', '/link/sessions', {
      client_user_id: 'e2e-user-1',
      products: ['transactions'],
      payment: { product: 'transfer', amount: '25.00', legal_name: 'Ada Lovelace' },
    });
    expect(created.status).toBe(201);
    const linkToken = created.body.link_token as string;
    expect(created.body.session_id).toBe(linkToken);

    await stack.emulator('/__emulator/link/complete', { link_token: linkToken });
    const awaiting = await untilStatus(linkToken, 'awaiting_payment_account');
    expect(awaiting.items.filter((i) => i.status === 'exchanged')).toHaveLength(3);
    expect(awaiting.polling.active).toBe(false);

    const state = await stack.emulatorState();
    const mine = state.webhooks.filter((w) => w.link_token === linkToken);
    expect(mine.map((w) => w.webhook_code).sort()).toEqual([
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'ITEM_ADD_RESULT',
      'SESSION_FINISHED',
    ]);
    expect(mine.every((w) => w.delivered && w.attempts === 1)).toBe(true);

    const account = awaiting.eligible_accounts[0]?.account_id as string;
    const chosen = await a.call('POST', `/link/sessions/${linkToken}/payment-account`, {
      account_id: account,
    });
    expect(chosen.status).toBe(200);
    expect(chosen.body.status).toBe('completed');
    expect(chosen.body.payment_account).toMatchObject({ account_id: account, product: 'transfer' });
    expect(chosen.body.payment_account.result).toMatchObject({
      decision: expect.stringMatching(/approved|declined/),
    });
    expect(JSON.stringify(chosen.body)).not.toMatch(/access-sandbox-|public-sandbox-/);

    const listed = await a.call('GET', '/link/sessions?client_user_id=e2e-user-1');
    expect(listed.body.sessions.map((s: SessionView) => s.session_id)).toEqual([linkToken]);
  });

  it('shows the work Temporal is retrying: an exchange Plaid rate-limits appears in `retrying` until it succeeds', async () => {
    const a = await api();
    const created = await a.call('POST', '/link/sessions', { client_user_id: 'e2e-user-3' });
    const linkToken = created.body.link_token as string;
    await stack.emulator('/__emulator/faults', {
      path: '/item/public_token/exchange',
      error_code: 'RATE_LIMIT',
      times: 2,
    });
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: ['ins_109508'],
    });
    let seen: Json;
    await expect
      .poll(
        async () => {
          const res = await a.call('GET', `/link/sessions/${linkToken}`);
          seen = res.body.retrying?.find((r: Json) => r.activity === 'exchangePublicToken');
          return seen?.last_error?.code ?? null;
        },
        { timeout: 30_000, interval: 50 },
      )
      .toBe('RATE_LIMIT');
    expect(seen.attempt).toBeGreaterThanOrEqual(2);
    expect(seen.last_error.message).toContain('RATE_LIMIT');
    expect(seen.last_error.message).not.toMatch(/public-sandbox-|access-sandbox-/);
    const done = await untilStatus(linkToken, 'completed');
    expect(done.items.map((i) => i.status)).toEqual(['exchanged']);
    const after = await a.call('GET', `/link/sessions/${linkToken}`);
    expect(after.body.retrying).toEqual([]);
  });

  it('duplicated webhooks change nothing; a second Link session after completion still has its Item exchanged', async () => {
    const a = await api();
    const created = await a.call('POST', '/link/sessions', { client_user_id: 'e2e-user-2' });
    const linkToken = created.body.link_token as string;
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      webhooks: { duplicate: 3, shuffle: true },
    });
    // No payment asked: the session completes once every Item is exchanged and described.
    const handle = stack.client.workflow.getHandle(linkSessionWorkflowId(linkToken));
    const result = (await settledView(handle)) as SessionView;
    expect(result.status).toBe('completed');
    const state = await stack.emulatorState();
    expect(Object.values(state.exchanges)).toEqual([1, 1, 1]);

    // The user opens Link again with the same link token (Plaid allows it while the token is
    // valid): the run is still open and exchanges the new Item; nothing is dropped.
    const runId = (await handle.describe()).runId;
    const second = (await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      // Not one of the first Link's banks: the same bank again would be a duplicate, not exchanged.
      institutions: ['ins_109510'],
    })) as { public_tokens: string[]; link_session_id: string };
    const after = await waitFor('the second Link session’s Item', async () => {
      const v = await handle.query(getSessionQuery);
      return v.items.length === 4 && v.status === 'completed' ? v : undefined;
    });
    expect(after.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged', 'exchanged']);
    expect(after.link_session_ids).toContain(second.link_session_id);
    const exchanges = (await stack.emulatorState()).exchanges;
    expect(exchanges[second.public_tokens[0] as string]).toBe(1);
    expect(Object.values(exchanges)).toEqual([1, 1, 1, 1]);
    const description = await handle.describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.runId).toBe(runId);
  });
});
