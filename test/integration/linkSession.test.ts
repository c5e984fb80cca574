/**
 * The Link session workflow on the real dev server, with the Plaid emulator over HTTP.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  getSessionQuery,
  linkSessionWorkflowId,
  selectPaymentAccountUpdate,
} from '../../src/workflows/definitions';
import type { SessionStatus, SessionView } from '../../src/workflows/types';
import {
  type CreatedSession,
  type LinkflowStack,
  type SessionRequest,
  settledView,
  startLinkflowStack,
  TEST_TIMING,
  waitFor,
} from '../helpers/linkflowStack';
import { connectToTestServer, linkSessionBundle, type TemporalTestContext } from '../helpers/temporal';

interface CatalogueInstitution {
  institution_id: string;
  name: string;
  supports_auth: boolean;
  accounts: Array<{ name: string; mask: string; type: string; subtype: string }>;
}

let t: TemporalTestContext;
let bundle: WorkflowBundle;
let stack: LinkflowStack;
let catalogue: CatalogueInstitution[];

beforeAll(async () => {
  t = await connectToTestServer();
  bundle = await linkSessionBundle();
});
afterAll(async () => {
  await t?.close();
});

/** A stack of its own per test: emulator faults are global to an emulator. */
async function freshStack() {
  const started = await startLinkflowStack({
    temporal: { address: t.address, namespace: t.namespace },
    bundle,
    timing: TEST_TIMING,
  });
  // Sessions started directly (Plaid + startLinkSession), asking for auth unless told otherwise.
  const createSession = started.createSession;
  stack = {
    ...started,
    createSession: (req: SessionRequest = {}): Promise<CreatedSession> =>
      createSession({ via: 'direct', payment: { product: 'auth' }, ...req }),
  };
  catalogue = ((await stack.emulator('/__emulator/institutions')) as { institutions: CatalogueInstitution[] })
    .institutions;
}
afterEach(async () => {
  await stack?.close();
});

/**
 * History as text with every payload's bytes (data and metadata, base64 in the client's JSON)
 * decoded, so a plaintext token inside a payload would show; and every `payloads[]` entry, so a
 * test can check that each was encrypted.
 */
function historyText(history: unknown): { text: string; payloads: Array<Record<string, string>> } {
  const payloads: Array<Record<string, string>> = [];
  const decode = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('latin1') : v);
  const text = JSON.stringify(history, (key, value) => {
    if (key === 'payloads' && Array.isArray(value)) {
      for (const p of value)
        payloads.push(
          Object.fromEntries(Object.entries(p?.metadata ?? {}).map(([k, v]) => [k, decode(v) as string])),
        );
    }
    if (key === 'data') return decode(value);
    if (key === 'metadata' && value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
    }
    return value;
  });
  return { text, payloads };
}

const view = (handle: { query: (q: typeof getSessionQuery) => Promise<SessionView> }) =>
  handle.query(getSessionQuery);

async function untilStatus(
  handle: { query: (q: typeof getSessionQuery) => Promise<SessionView> },
  status: SessionStatus,
  timeout = 30_000,
): Promise<SessionView> {
  await expect.poll(async () => (await view(handle)).status, { timeout, interval: 100 }).toBe(status);
  return view(handle);
}

/** What Plaid's rule implies for the catalogue: checking/savings on institutions that support auth. */
function expectedEligible(institutionIds: string[]) {
  return catalogue
    .filter((i) => institutionIds.includes(i.institution_id) && i.supports_auth)
    .flatMap((i) =>
      i.accounts
        .filter((a) => a.subtype === 'checking' || a.subtype === 'savings')
        .map((a) => `${i.name}/${a.mask}`),
    )
    .sort();
}

const eligibleKeys = (v: SessionView) =>
  v.eligible_accounts.map((a) => `${a.institution_name}/${a.mask}`).sort();
const firstThree = () => catalogue.slice(0, 3).map((i) => i.institution_id);

/** How many times the workflow scheduled each activity type, from its history. */
async function scheduledActivities(handle: WorkflowHandle) {
  const counts: Record<string, number> = {};
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const name = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

async function exchangeCounts(): Promise<Record<string, number>> {
  return (await stack.emulatorState()).exchanges;
}

describe('Link session workflow', () => {
  it('happy path: three Items over webhooks, eligibility as the fixture implies, auth on the chosen account', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: { product: 'auth' } });
    expect((await view(handle)).status).toBe('waiting_for_user');
    const institutions = firstThree();
    const completed = (await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions,
    })) as {
      public_tokens: string[];
    };
    expect(completed.public_tokens).toHaveLength(3);

    const awaiting = await untilStatus(handle, 'awaiting_payment_account');
    expect(awaiting.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged']);
    expect(awaiting.items.map((i) => i.institution.institution_id).sort()).toEqual([...institutions].sort());
    expect(eligibleKeys(awaiting)).toEqual(expectedEligible(institutions));
    expect(awaiting.eligible_accounts.length).toBeGreaterThan(0);
    expect(awaiting.ineligible_accounts.some((a) => a.reason === 'item_without_auth')).toBe(true);
    expect(awaiting.ineligible_accounts.some((a) => a.reason === 'not_checking_or_savings')).toBe(true);
    // SESSION_FINISHED listed every public token: no look at /link/token/get was needed.
    expect(awaiting.polling.polls).toBe(0);
    expect(awaiting.link_session_ids).toHaveLength(1);

    const chosen = awaiting.eligible_accounts[0];
    if (!chosen) throw new Error('no eligible account');
    const afterChoice = await handle.executeUpdate(selectPaymentAccountUpdate, {
      args: [{ account_id: chosen.account_id }],
    });
    expect(afterChoice.status).toBe('completed');
    expect(afterChoice.payment_account).toMatchObject({
      account_id: chosen.account_id,
      item_id: chosen.item_id,
      product: 'auth',
    });
    expect(afterChoice.payment_account?.result).toMatchObject({ numbers_available: true });
    const result = await settledView(handle);
    expect(result.status).toBe('completed');
    expect(Object.values(await exchangeCounts())).toEqual([1, 1, 1]);
    expect((await stack.store.counts()).items).toBe(3);
    // Each exchange described its Item: no separate describeItem activity.
    expect(await scheduledActivities(handle)).toMatchObject({ exchangePublicToken: 3 });
    expect((await scheduledActivities(handle)).describeItem ?? 0).toBe(0);
  });

  it('an Item the exchange could not describe is described by its own activity, and the session goes on', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: { product: 'auth' } });
    await stack.emulator('/__emulator/faults', {
      path: '/item/get',
      error_code: 'INTERNAL_SERVER_ERROR',
      times: 1,
    });
    const institutions = firstThree();
    await stack.emulator('/__emulator/link/complete', { link_token: linkToken, institutions });
    const awaiting = await untilStatus(handle, 'awaiting_payment_account');
    expect(awaiting.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged']);
    expect(eligibleKeys(awaiting)).toEqual(expectedEligible(institutions));
    expect(await scheduledActivities(handle)).toMatchObject({ exchangePublicToken: 3, describeItem: 1 });
    expect(Object.values(await exchangeCounts())).toEqual([1, 1, 1]);
  });

  it('all webhooks dropped: polling recovers every token and reaches the same result', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({
      payment: { product: 'processor', processor: 'dwolla' },
    });
    const institutions = firstThree();
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions,
      webhooks: { drop: true },
    });
    const awaiting = await untilStatus(handle, 'awaiting_payment_account');
    expect(awaiting.items).toHaveLength(3);
    expect(eligibleKeys(awaiting)).toEqual(expectedEligible(institutions));
    expect(awaiting.polling.polls).toBeGreaterThanOrEqual(1);
    const state = await stack.emulatorState();
    expect(state.webhooks.filter((w) => w.link_token === linkToken && w.delivered)).toEqual([]);

    const chosen = awaiting.eligible_accounts[0];
    if (!chosen) throw new Error('no eligible account');
    const done = await handle.executeUpdate(selectPaymentAccountUpdate, {
      args: [{ account_id: chosen.account_id }],
    });
    expect(done.payment_account).toMatchObject({
      product: 'processor',
      result: { processor: 'dwolla', processor_token_stored: true },
    });
    expect(JSON.stringify(done)).not.toMatch(/processor-sandbox-/);
    expect((await settledView(handle)).status).toBe('completed');
  });

  it('webhooks duplicated x3 and shuffled: each token exchanged exactly once', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: null });
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree(),
      webhooks: { duplicate: 3, shuffle: true },
    });
    const result = await settledView(handle);
    expect(result.status).toBe('completed');
    expect(result.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged']);
    const state = await stack.emulatorState();
    expect(
      state.webhooks.filter((w) => w.link_token === linkToken && w.delivered).length,
    ).toBeGreaterThanOrEqual(4);
    expect(Object.values(state.exchanges)).toEqual([1, 1, 1]);
  });

  it('user exits with no Item: exited', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession();
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: [],
      status: 'EXITED',
    });
    const result = await settledView(handle);
    expect(result.status).toBe('exited');
    expect(result.items).toEqual([]);
    expect(result.finished_at).not.toBeNull();
  });

  it('nobody opens Link: expired when the window closes', async () => {
    await freshStack();
    const { handle } = await stack.createSession({ expiration: new Date(Date.now() + 4_000).toISOString() });
    const result = await handle.result();
    expect(result.status).toBe('expired');
    expect(result.polling.polls).toBeGreaterThanOrEqual(1);
    expect(result.finished_at).toBeNull();
  });

  it('exchange rate-limited twice then succeeds; an expired token ends as a failed item; the rest completes', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: null });
    await stack.emulator('/__emulator/faults', {
      path: '/item/public_token/exchange',
      error_code: 'RATE_LIMIT',
      times: 2,
    });
    // Webhooks lost, so the workflow learns of the tokens by polling, after one of them expired.
    const { public_tokens } = (await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree(),
      webhooks: { drop: true },
    })) as { public_tokens: string[] };
    const expired = public_tokens[1] as string;
    await stack.emulator('/__emulator/public_token/expire', { public_token: expired });

    const result = await settledView(handle);
    expect(result.status).toBe('completed');
    expect(result.items.map((i) => i.status).sort()).toEqual(['exchanged', 'exchanged', 'failed']);
    const failed = result.items.find((i) => i.status === 'failed');
    expect(failed?.error?.code).toBe('INVALID_PUBLIC_TOKEN');
    expect(failed?.item_id).toBeNull();
    const counts = await exchangeCounts();
    expect(counts[expired] ?? 0).toBe(0);
    expect(Object.values(counts).filter((n) => n === 1)).toHaveLength(2);
    expect(result.errors.map((e) => e.code)).toContain('INVALID_PUBLIC_TOKEN');
  });

  it('keeps access tokens and plaintext public tokens out of workflow history', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: { product: 'auth' } });
    const { public_tokens } = (await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree(),
    })) as { public_tokens: string[] };
    const awaiting = await untilStatus(handle, 'awaiting_payment_account');
    const account = awaiting.eligible_accounts[0]?.account_id as string;
    await handle.executeUpdate(selectPaymentAccountUpdate, { args: [{ account_id: account }] });
    await settledView(handle);

    const history = await handle.fetchHistory();
    // The SDK writes patch markers (`patched()`: the patch id, no session data) without the codec.
    for (const event of history.events ?? []) {
      const marker = event.markerRecordedEventAttributes;
      if (marker?.markerName === 'core_patch') marker.details = {};
      // A local activity's marker (outbound events, issue 14) also has core's own metadata (seq,
      // attempt, activity type, times) in plain JSON; its result is encrypted like any payload.
      if (marker?.markerName === 'core_local_activity' && marker.details) delete marker.details.data;
    }
    const { text, payloads } = historyText(history);
    expect(text.length).toBeGreaterThan(1000);
    expect(text).not.toMatch(/access-sandbox-/);
    for (const token of public_tokens) expect(text).not.toContain(token);
    // Payloads are encrypted, not merely absent: inputs, signals, activity results, the result.
    expect(payloads.length).toBeGreaterThan(10);
    expect(payloads.filter((p) => p.encoding !== 'binary/encrypted')).toEqual([]);
  });

  it('refuses an ineligible account in the update validator and leaves the session waiting', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: { product: 'auth' } });
    await stack.emulator('/__emulator/link/complete', { link_token: linkToken, institutions: firstThree() });
    const awaiting = await untilStatus(handle, 'awaiting_payment_account');
    const ineligible = awaiting.ineligible_accounts[0]?.account_id as string;
    await expect(
      handle.executeUpdate(selectPaymentAccountUpdate, { args: [{ account_id: ineligible }] }),
    ).rejects.toMatchObject({ cause: { type: 'ACCOUNT_NOT_ELIGIBLE' } });
    expect((await view(handle)).status).toBe('awaiting_payment_account');
    await handle.terminate('test done');
  });

  it('EXITED then SUCCESS on one link token: the second Link session’s Items are exchanged', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({ payment: null });
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: [],
      status: 'EXITED',
    });
    expect((await untilStatus(handle, 'exited')).items).toEqual([]);
    // The user opens Link again on the same token and links two banks.
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree().slice(0, 2),
    });
    const done = await untilStatus(handle, 'completed');
    expect(done.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged']);
    expect(done.link_session_ids).toHaveLength(2);
    expect(Object.values(await exchangeCounts())).toEqual([1, 1]);
  });

  it('stays open until the link token expired and a last look showed nothing more; a webhook after that reopens it', async () => {
    await freshStack();
    const { linkToken, handle } = await stack.createSession({
      payment: null,
      expiration: new Date(Date.now() + 5_000).toISOString(),
    });
    await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree().slice(0, 1),
    });
    const first = await handle.result();
    expect(first.status).toBe('completed');
    const firstRunId = (await handle.describe()).runId;
    // The result came only after a look at /link/token/get once the token had expired.
    expect(first.polling.polls).toBeGreaterThanOrEqual(1);

    // A webhook Plaid delivers after that run closed (a late Link session): the session starts
    // again with the closed run's Items, and the new token is exchanged exactly once.
    const late = (await stack.emulator('/__emulator/link/complete', {
      link_token: linkToken,
      institutions: firstThree().slice(1, 2),
    })) as { public_tokens: string[] };
    const reopened = stack.client.workflow.getHandle(linkSessionWorkflowId(linkToken));
    const after = await waitFor('the reopened run to exchange the late Item', async () => {
      const v = await reopened.query(getSessionQuery);
      return v.items.length === 2 && v.status === 'completed' ? v : undefined;
    });
    expect(after.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged']);
    expect((await reopened.describe()).runId).not.toBe(firstRunId);
    const counts = await exchangeCounts();
    expect(counts[late.public_tokens[0] as string]).toBe(1);
    expect(Object.values(counts)).toEqual([1, 1]);
  });
});
