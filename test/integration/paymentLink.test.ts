/**
 * Plaid's Multi-Item step 5 over HTTP, on the real dev server: a session whose Items offer no
 * account that can move money awaits one; the chooser's payment Link (single-Item, auth only,
 * non-credential flows) adds an Item whose account Plaid verifies over days — by a code the user
 * types in update mode, or automatically with an AUTH webhook — and the session holds the
 * choice until then, or says why it could not.
 */
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionView } from '../../src/workflows/types';
import { type LinkflowStack, startLinkflowStack, TEST_TIMING, waitFor } from '../helpers/linkflowStack';
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

/** Herringbone Bank: a credit card and a student loan, so no account can move money. */
const NO_PAYMENT_ACCOUNTS = 'ins_linkflow_no_auth_accounts';

interface Microdeposit {
  item_id: string;
  account_id: string;
  code: string | null;
  attempts_left: number;
  verification_status: string;
}

async function start(): Promise<void> {
  stack = await startLinkflowStack({
    temporal: { address: t.address, namespace: t.namespace },
    bundle,
    timing: TEST_TIMING,
  });
}

const call = (method: string, path: string, body?: unknown) => stack.api<Json>(method, path, body);

async function view(sessionId: string): Promise<SessionView> {
  const res = await call('GET', `/link/sessions/${sessionId}`);
  if (res.status !== 200) throw new Error(`GET session -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function until(sessionId: string, what: string, check: (v: SessionView) => boolean): Promise<SessionView> {
  return waitFor(
    `session ${sessionId}: ${what}`,
    async () => {
      const v = await view(sessionId);
      return check(v) ? v : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 150 },
  );
}

/** A session for `auth` whose Multi-Item Link brought only accounts that cannot move money. */
async function sessionWithoutPaymentAccounts(clientUserId: string): Promise<string> {
  const created = await call('POST', '/link/sessions', {
    client_user_id: clientUserId,
    products: ['transactions'],
    payment: { product: 'auth' },
  });
  expect(created.status).toBe(201);
  const sessionId = created.body.session_id as string;
  // Before anything was linked there is no payment step to offer a Link for.
  const early = await call('POST', `/link/sessions/${sessionId}/payment-link`);
  expect(early.status).toBe(409);
  expect(early.body.error.code).toBe('NOT_AWAITING_PAYMENT_ACCOUNT');

  await stack.completeLink(sessionId, { institutions: [NO_PAYMENT_ACCOUNTS] });
  const awaiting = await until(
    sessionId,
    'awaiting a payment account',
    (v) => v.status === 'awaiting_payment_account',
  );
  // It no longer completes at once: the user can still link an account through the payment Link.
  expect(awaiting.eligible_accounts).toEqual([]);
  expect(awaiting.items.map((i) => i.status)).toEqual(['exchanged']);
  return sessionId;
}

async function paymentLink(sessionId: string): Promise<string> {
  const res = await call('POST', `/link/sessions/${sessionId}/payment-link`);
  expect(res.status).toBe(201);
  expect(typeof res.body.expiration).toBe('string');
  const again = await call('POST', `/link/sessions/${sessionId}/payment-link`);
  expect(again.body.link_token).toBe(res.body.link_token); // the live one, not a second token
  return res.body.link_token as string;
}

async function microdepositOf(itemId: string): Promise<Microdeposit> {
  const state = (await stack.emulatorState()) as unknown as { microdeposits: Microdeposit[] };
  const md = state.microdeposits.find((m) => m.item_id === itemId);
  if (!md) throw new Error(`no micro-deposit for ${itemId}`);
  return md;
}

async function exchangeCount(publicToken: string): Promise<number> {
  const state = await stack.emulatorState();
  return (state.exchanges as Record<string, number>)[publicToken] ?? 0;
}

describe('the payment Link and micro-deposit verification', () => {
  it('Same-Day Micro-deposits: pending, verified by the code in update mode, chosen, completed with auth numbers', async () => {
    await start();
    const sessionId = await sessionWithoutPaymentAccounts('md-same-day');
    const paymentToken = await paymentLink(sessionId);

    const linked = await stack.emulator<Json>('/__emulator/link/complete', {
      link_token: paymentToken,
      auth_flow: 'same_day_microdeposits',
      account: {
        routing: '011401533',
        account: '1111222233331234',
        name: 'Ada Lovelace',
        subtype: 'checking',
      },
    });
    const publicToken = linked.public_tokens[0] as string;
    const posted = await call('POST', `/link/sessions/${sessionId}/payment-link/public-token`, {
      public_token: publicToken,
    });
    expect(posted.status).toBe(202);
    // The front end retrying its post is the same token, not a second exchange.
    expect(
      (
        await call('POST', `/link/sessions/${sessionId}/payment-link/public-token`, {
          public_token: publicToken,
        })
      ).status,
    ).toBe(202);

    const pending = await until(sessionId, 'the new account pending', (v) => v.pending_accounts.length === 1);
    const account = pending.pending_accounts[0] as SessionView['pending_accounts'][number];
    expect(account).toMatchObject({
      mask: '1234',
      subtype: 'checking',
      verification_status: 'pending_manual_verification',
    });
    expect(pending.items.find((i) => i.item_id === account.item_id)).toMatchObject({
      status: 'exchanged',
      origin: 'payment_link',
    });
    expect(pending.status).toBe('awaiting_payment_account');

    const refused = await call('POST', `/link/sessions/${sessionId}/payment-account`, {
      account_id: account.account_id,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain('pending_manual_verification');

    const verification = await call('POST', `/link/sessions/${sessionId}/verification-link`, {
      item_id: account.item_id,
    });
    expect(verification.status).toBe(201);
    const md = await microdepositOf(account.item_id);
    expect(md.code).toMatch(/^[A-Z0-9]{3}$/);
    const wrong = md.code === 'ZZZ' ? 'YYY' : 'ZZZ';
    await expect(
      stack.emulator('/__emulator/link/complete', {
        link_token: verification.body.link_token,
        verification_code: wrong,
      }),
    ).rejects.toThrow(/INCORRECT_DEPOSIT_VERIFICATION/);
    await stack.emulator('/__emulator/link/complete', {
      link_token: verification.body.link_token,
      verification_code: md.code,
    });

    // No webhook comes for a manual verification: the session reads the Item while the
    // verification Link lives.
    const verified = await until(sessionId, 'the account eligible', (v) =>
      v.eligible_accounts.some((a) => a.account_id === account.account_id),
    );
    expect(verified.pending_accounts).toEqual([]);

    const chosen = await call('POST', `/link/sessions/${sessionId}/payment-account`, {
      account_id: account.account_id,
    });
    expect(chosen.status).toBe(200);
    const done = await until(sessionId, 'completed', (v) => v.status === 'completed');
    expect(done.payment_account).toMatchObject({
      account_id: account.account_id,
      item_id: account.item_id,
      product: 'auth',
      result: { numbers_available: true, account_last4: '1234', routing_last4: '1533' },
    });
    expect(await exchangeCount(publicToken)).toBe(1);
  });

  it('Automated Micro-deposits: the public token found by polling the payment Link, verified by an AUTH webhook', async () => {
    await start();
    const sessionId = await sessionWithoutPaymentAccounts('md-automated');
    const paymentToken = await paymentLink(sessionId);
    // The front end never posts the public token (the page was closed): /link/token/get has it.
    const linked = await stack.emulator<Json>('/__emulator/link/complete', {
      link_token: paymentToken,
      auth_flow: 'automated_microdeposits',
    });
    const pending = await until(sessionId, 'the account pending automatic verification', (v) =>
      v.pending_accounts.some((a) => a.verification_status === 'pending_automatic_verification'),
    );
    const account = pending.pending_accounts[0] as SessionView['pending_accounts'][number];

    // Plaid verifies the deposit days later and says so with AUTOMATICALLY_VERIFIED.
    await stack.emulator(`/__emulator/items/${account.item_id}/verification`, {
      status: 'automatically_verified',
    });
    await until(sessionId, 'the account eligible', (v) =>
      v.eligible_accounts.some((a) => a.account_id === account.account_id),
    );
    const state = await stack.emulatorState();
    const auth = state.webhooks.filter((w) => w.webhook_code === 'AUTOMATICALLY_VERIFIED');
    expect(auth.length).toBe(1);
    expect(auth[0]?.delivered).toBe(true);

    expect(
      (await call('POST', `/link/sessions/${sessionId}/payment-account`, { account_id: account.account_id }))
        .status,
    ).toBe(200);
    const done = await until(sessionId, 'completed', (v) => v.status === 'completed');
    expect(done.payment_account?.account_id).toBe(account.account_id);
    expect(await exchangeCount(linked.public_tokens[0])).toBe(1);
  });

  it('an expired verification ends the session with the reason', async () => {
    await start();
    const sessionId = await sessionWithoutPaymentAccounts('md-expired');
    const paymentToken = await paymentLink(sessionId);
    const linked = await stack.emulator<Json>('/__emulator/link/complete', {
      link_token: paymentToken,
      auth_flow: 'automated_microdeposits',
    });
    await call('POST', `/link/sessions/${sessionId}/payment-link/public-token`, {
      public_token: linked.public_tokens[0],
    });
    const pending = await until(sessionId, 'pending', (v) => v.pending_accounts.length === 1);
    const account = pending.pending_accounts[0] as SessionView['pending_accounts'][number];

    await stack.emulator(`/__emulator/items/${account.item_id}/verification`, {
      status: 'verification_expired',
    });
    const failed = await until(sessionId, 'failed', (v) => v.status === 'failed');
    const error = failed.errors.find((e) => e.code === 'VERIFICATION_EXPIRED');
    expect(error?.message).toContain(account.account_id);
    expect(failed.ineligible_accounts).toContainEqual(
      expect.objectContaining({
        account_id: account.account_id,
        reason: 'not_verified',
        verification_status: 'verification_expired',
      }),
    );
    expect(failed.payment_account).toBeNull();
  });
});

describe('duplicate Items', () => {
  const PLATYPUS = 'ins_109508';
  const MADRAS = 'ins_linkflow_oauth_one_login'; // OAuth, one Item per login

  const publicTokens: string[] = [];

  async function session(clientUserId: string, institutions: string[], payment = true): Promise<string> {
    const created = await call('POST', '/link/sessions', {
      client_user_id: clientUserId,
      products: ['transactions'],
      ...(payment && { payment: { product: 'auth' } }),
    });
    expect(created.status).toBe(201);
    const linked = await stack.completeLink(created.body.session_id, { institutions });
    publicTokens.push(...linked.public_tokens);
    return created.body.session_id as string;
  }

  it('the same bank twice in one session and again in a later one: one Item, the others duplicate and never exchanged', async () => {
    await start();
    publicTokens.length = 0;
    const user = 'dup-user';
    const first = await session(user, [PLATYPUS, PLATYPUS]);
    const awaiting = await until(
      first,
      'awaiting a payment account',
      (v) => v.status === 'awaiting_payment_account',
    );
    const [kept, dup] = [
      awaiting.items.filter((i) => i.status === 'exchanged'),
      awaiting.items.filter((i) => i.status === 'duplicate'),
    ];
    expect(kept).toHaveLength(1);
    expect(dup).toHaveLength(1);
    const original = kept[0]?.item_id as string;
    expect(dup[0]).toMatchObject({
      item_id: null,
      duplicate_of: original,
      error: { code: 'DUPLICATE_ITEM' },
    });
    // Each checking account once in the chooser, not twice.
    expect(awaiting.eligible_accounts.every((a) => a.item_id === original)).toBe(true);
    const checking = awaiting.eligible_accounts.find(
      (a) => a.subtype === 'checking',
    ) as SessionView['eligible_accounts'][number];
    expect(
      (await call('POST', `/link/sessions/${first}/payment-account`, { account_id: checking.account_id }))
        .status,
    ).toBe(200);
    await until(first, 'completed', (v) => v.status === 'completed');

    const second = await session(user, [PLATYPUS]);
    const again = await until(
      second,
      'awaiting a payment account',
      (v) => v.status === 'awaiting_payment_account',
    );
    expect(again.items).toHaveLength(1);
    expect(again.items[0]).toMatchObject({ status: 'duplicate', duplicate_of: original });
    // The Item the user already has serves this session's payment step.
    expect(again.eligible_accounts.map((a) => a.account_id)).toContain(checking.account_id);
    expect(
      (await call('POST', `/link/sessions/${second}/payment-account`, { account_id: checking.account_id }))
        .status,
    ).toBe(200);
    const done = await until(second, 'completed', (v) => v.status === 'completed');
    expect(done.payment_account?.item_id).toBe(original);

    // Three public tokens were created; exactly one was ever exchanged, once.
    const counts = await Promise.all(publicTokens.map(exchangeCount));
    expect(publicTokens).toHaveLength(3);
    expect(counts.sort()).toEqual([0, 0, 1]);
    const items = await call('GET', `/items?client_user_id=${user}`);
    expect(items.body.items.map((i: Json) => i.item_id)).toEqual([original]);
  });

  it('an OAuth institution that invalidated the older Item: the new one is exchanged and replaces it', async () => {
    await start();
    const user = 'dup-oauth-user';
    const first = await session(user, [MADRAS], false);
    const before = await until(first, 'completed', (v) => v.status === 'completed');
    const old = before.items[0]?.item_id as string;

    const second = await session(user, [MADRAS], false);
    const after = await until(second, 'completed', (v) => v.status === 'completed');
    expect(after.items[0]).toMatchObject({ status: 'exchanged', replaces: old });
    const oldItem = await call('GET', `/items/${old}`);
    expect(oldItem.body).toMatchObject({ status: 'error', error: { code: 'ITEM_REPLACED' } });
  });
});
