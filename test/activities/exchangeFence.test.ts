/**
 * The exchange and processor-token activities under faults, against the Plaid emulator over HTTP
 * and a real store (PGlite), outside Temporal (each call is one activity attempt): lost answers end
 * as EXCHANGE_OUTCOME_UNKNOWN or are recovered, never reported as plain failures; concurrent
 * attempts are fenced; cancellation aborts the Plaid call; processor tokens are created once.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { PlaidApi } from 'plaid';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Attempt } from '../../src/activities/attempt';
import { exchangePublicToken } from '../../src/activities/exchangePublicToken';
import type { ActivityDeps } from '../../src/activities/index';
import { setupPayment, transferIdempotencyKey } from '../../src/activities/setupPayment';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { sha256Hex } from '../../src/crypto/aesGcm';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { registerOutcomeGauges } from '../../src/observability/metrics';
import { createPlaidClient } from '../../src/plaid/client';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import type { ExchangeResult } from '../../src/workflows/types';
import { completeLink, control, multiItemLinkToken } from '../emulator/helpers';
import { type LossyProxy, startLossyProxy } from '../helpers/lossyProxy';

const EXCHANGE = '/item/public_token/exchange';
const PROCESSOR = '/processor/token/create';

let emulator: StartedEmulator;
let proxy: LossyProxy;
let plaid: PlaidApi;
let db: Db;
let store: ItemStore;
let deps: ActivityDeps;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, seed: 13 });
  proxy = await startLossyProxy(emulator.url);
  plaid = createPlaidClient({ basePath: proxy.url, clientId: 'fence', secret: 'fence-secret' });
  db = await openDatabase({});
  store = createItemStore(db, createKeyring(generateKeyBase64()));
  deps = { plaid, store };
});
// Faults are global to the emulator: each test starts without any left over.
beforeEach(() => {
  emulator.emulator.reset();
});
afterAll(async () => {
  await db?.close();
  await proxy?.close();
  await emulator?.close();
});

let attempts = 0;
/** One activity attempt, named like Temporal's owner (workflow/activity#attempt). */
function attempt(controller = new AbortController()): Attempt {
  attempts += 1;
  return { owner: `wf-test/exchange#${attempts}`, cancellation: controller.signal };
}

/** A completed Multi-Item Link with `n` Items: the exchange inputs of its public tokens. */
async function linked(n: number) {
  const clientUserId = `fence-${randomUUID()}`;
  const { linkToken, userId } = (await multiItemLinkToken(plaid, { clientUserId })) as {
    linkToken: string;
    userId: string;
  };
  const institutions = ['ins_109508', 'ins_109509', 'ins_109510', 'ins_109511', 'ins_109512'];
  const done = await completeLink(emulator.url, {
    link_token: linkToken,
    institutions: Array.from({ length: n }, (_, i) => institutions[i % institutions.length]),
  });
  return done.public_tokens.map((publicToken) => ({ linkToken, publicToken, clientUserId, userId }));
}

const fault = async (body: Record<string, unknown>) => {
  const res = await control(emulator.url, '/__emulator/faults', body);
  if (res.status !== 200) throw new Error(`fault: ${res.status} ${JSON.stringify(res.body)}`);
};

async function failure(call: Promise<unknown>): Promise<ApplicationFailure | CancelledFailure> {
  try {
    await call;
  } catch (err) {
    return err as ApplicationFailure;
  }
  throw new Error('expected the attempt to throw');
}

const exchangesAtPlaid = (publicToken: string) => emulator.emulator.state().exchanges[publicToken] ?? 0;
const callOwner = async (publicToken: string) =>
  (
    await db.query<{ call_owner: string | null }>(
      'SELECT call_owner FROM exchange_intents WHERE public_token_sha256 = $1',
      [sha256Hex(publicToken)],
    )
  )[0]?.call_owner ?? null;

function expectUnknown(result: ExchangeResult) {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe('EXCHANGE_OUTCOME_UNKNOWN');
  expect(result.error.retryable).toBe(false);
}

describe('exchange: a lost answer', () => {
  it('after Plaid did the work: the attempt is retried, the retry ends EXCHANGE_OUTCOME_UNKNOWN — recorded, counted, never "failed"', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    const registry = new Registry();
    registerOutcomeGauges(registry, store);
    const gaugeBefore = (await registry.getSingleMetric('linkflow_exchange_outcome_unknown')?.get())
      ?.values[0]?.value as number;

    await fault({ path: EXCHANGE, mode: 'lose_response' });
    const first = attempt();
    const lost = await failure(exchangePublicToken(deps, input, first));
    expect(lost).toBeInstanceOf(ApplicationFailure);
    expect(lost).toMatchObject({ type: 'EXCHANGE_ANSWER_LOST', nonRetryable: false });
    expect(exchangesAtPlaid(input.publicToken)).toBe(1);

    const second = attempt();
    const result = await exchangePublicToken(deps, input, second);
    expectUnknown(result);
    if (result.ok) return;
    // What happened, which attempts, when.
    expect(result.error.message).toContain(`attempt ${first.owner} sent /item/public_token/exchange`);
    expect(result.error.message).toContain(`Attempt ${second.owner} tried again at`);
    expect(result.error.message).toContain('INVALID_PUBLIC_TOKEN');
    expect(result.error.message).toMatch(/ECONNRESET/);

    expect(await store.findExchange(input.publicToken)).toMatchObject({ state: 'unknown', itemId: null });
    // A later attempt returns the recorded outcome without asking Plaid again.
    expect(await exchangePublicToken(deps, input, attempt())).toEqual(result);
    expect(proxy.forwarded[EXCHANGE]).toBeGreaterThan(0);
    expect(
      (await registry.getSingleMetric('linkflow_exchange_outcome_unknown')?.get())?.values[0]?.value,
    ).toBe(gaugeBefore + 1);
  });

  it('before it reached Plaid (reset on the way there): the retry exchanges it', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    proxy.loseRequests(EXCHANGE);
    const lost = await failure(exchangePublicToken(deps, input, attempt()));
    expect(lost).toMatchObject({ type: 'EXCHANGE_ANSWER_LOST' });
    expect(exchangesAtPlaid(input.publicToken)).toBe(0);
    const result = await exchangePublicToken(deps, input, attempt());
    expect(result).toMatchObject({ ok: true });
    expect(await store.findExchange(input.publicToken)).toMatchObject({ state: 'exchanged' });
  });

  it('N lost answers, half before and half after Plaid did the work: exactly the latter end unknown, none failed', async () => {
    const N = 10;
    const inputs = await linked(N);
    const tally = { recovered: 0, unknown: 0, failed: 0 };
    for (const [i, input] of inputs.entries()) {
      if (i % 2 === 0) proxy.loseRequests(EXCHANGE);
      else await fault({ path: EXCHANGE, mode: 'lose_response' });
      await failure(exchangePublicToken(deps, input, attempt()));
      const result = await exchangePublicToken(deps, input, attempt());
      if (result.ok) tally.recovered += 1;
      else if (result.error.code === 'EXCHANGE_OUTCOME_UNKNOWN') tally.unknown += 1;
      else tally.failed += 1;
    }
    console.log(
      `lost exchange answers: ${N}; recovered ${tally.recovered}, unknown ${tally.unknown}, failed ${tally.failed}`,
    );
    expect(tally).toEqual({ recovered: N / 2, unknown: N / 2, failed: 0 });
  });

  it('a delayed answer past the call timeout is a lost answer too (the work was done): unknown, not failed', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    await fault({ path: EXCHANGE, mode: 'delay', delay_ms: 5_000 });
    const lost = await failure(exchangePublicToken({ ...deps, plaidCallTimeoutMs: 300 }, input, attempt()));
    expect(lost).toMatchObject({ type: 'EXCHANGE_ANSWER_LOST' });
    expect(lost.message).toMatch(/ECONNABORTED|timeout/);
    expectUnknown(await exchangePublicToken(deps, input, attempt()));
  });

  it('on the last attempt Temporal will make, a lost answer is recorded as unknown at once (not left in doubt for a timeout)', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    await fault({ path: EXCHANGE, mode: 'lose_response' });
    const last = { ...attempt(), retriesEndAt: Date.now() + 1_000 };
    const result = await exchangePublicToken(deps, input, last);
    expectUnknown(result);
    if (!result.ok) expect(result.error.message).toMatch(/lost the answer .* the time for retries is up/);
    expect(await store.findExchange(input.publicToken)).toMatchObject({ state: 'unknown' });
  });

  it('a token Plaid refuses without any earlier doubt is a plain failure (expired, never exchanged)', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    await fault({ path: EXCHANGE, error_code: 'INVALID_PUBLIC_TOKEN' });
    const result = await exchangePublicToken(deps, input, attempt());
    expect(result).toMatchObject({ ok: false, error: { code: 'INVALID_PUBLIC_TOKEN', retryable: false } });
    expect(await store.findExchange(input.publicToken)).toMatchObject({ state: 'failed' });
  });
});

describe('exchange: one attempt at a time', () => {
  it('a second attempt while the first is talking to Plaid is told to retry; Plaid sees one exchange; both end with the Item', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    await fault({ path: EXCHANGE, mode: 'delay', delay_ms: 1_500 });
    const first = attempt();
    const running = exchangePublicToken(deps, input, first);
    await expect
      .poll(() => callOwner(input.publicToken), { timeout: 10_000, interval: 20 })
      .toBe(first.owner);

    const second = await failure(exchangePublicToken(deps, input, attempt()));
    expect(second).toMatchObject({ type: 'EXCHANGE_IN_PROGRESS', nonRetryable: false });
    expect(second.message).toContain(`attempt ${first.owner} is exchanging this public token`);

    const done = await running;
    expect(done).toMatchObject({ ok: true });
    expect(await exchangePublicToken(deps, input, attempt())).toEqual(done);
    expect(exchangesAtPlaid(input.publicToken)).toBe(1);
  });

  it('cancellation aborts the Plaid call at once and releases the lease; the exchange is left in doubt', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    await fault({ path: EXCHANGE, mode: 'delay', delay_ms: 60_000 });
    const controller = new AbortController();
    const cancelledAttempt = attempt(controller);
    const running = failure(exchangePublicToken(deps, input, cancelledAttempt));
    await expect
      .poll(() => callOwner(input.publicToken), { timeout: 10_000, interval: 20 })
      .toBe(cancelledAttempt.owner);
    const cancelledAt = Date.now();
    controller.abort(new Error('workflow cancelled'));
    const err = await running;
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(err.message).toContain(cancelledAttempt.owner);
    // Well before the 60 s delay or the 20 s call timeout: the request itself was aborted.
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    // The lease is free at once; the next attempt learns Plaid spent the token meanwhile.
    expectUnknown(await exchangePublicToken(deps, input, attempt()));
  });

  it('once the store holds the access token every later attempt returns the Item, whatever Plaid would say', async () => {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    const done = await exchangePublicToken(deps, input, attempt());
    expect(done).toMatchObject({ ok: true });
    await fault({ path: EXCHANGE, error_code: 'INVALID_PUBLIC_TOKEN', times: 3 });
    for (let i = 0; i < 3; i++) expect(await exchangePublicToken(deps, input, attempt())).toEqual(done);
    // Plaid was never asked: the three refusals are still waiting.
    expect(emulator.emulator.state().faults_pending).toEqual([
      { path: EXCHANGE, mode: 'error', error_code: 'INVALID_PUBLIC_TOKEN', remaining: 3 },
    ]);
  });
});

describe('processor token: once per Link session', () => {
  async function exchangedWithAccount() {
    const [input] = await linked(1);
    if (!input) throw new Error('no token');
    const done = await exchangePublicToken(deps, input, attempt());
    if (!done.ok) throw new Error(`exchange failed: ${JSON.stringify(done)}`);
    const accessToken = await store.getAccessToken(done.itemId);
    const { data } = await plaid.accountsGet({ access_token: accessToken });
    const account = data.accounts.find((a) => a.subtype === 'checking');
    if (!account) throw new Error('no checking account');
    return {
      setup: {
        linkToken: input.linkToken,
        itemId: done.itemId,
        accountId: account.account_id,
        choice: { product: 'processor' as const, processor: 'dwolla' },
      },
    };
  }
  // Every /processor/token/create that reached the emulator minted a token (lost answers too);
  // the emulator's state view does not list processor tokens, the proxy counts what it forwarded.
  const createCalls = () => proxy.forwarded[PROCESSOR] ?? 0;

  it('a retried step returns the stored setup: one processor token', async () => {
    const { setup } = await exchangedWithAccount();
    const before = createCalls();
    const first = await setupPayment(deps, setup, attempt());
    const again = await setupPayment(deps, setup, attempt());
    expect(again).toEqual(first);
    expect(createCalls() - before).toBe(1);
    expect(await store.getProcessorToken(setup.linkToken)).toMatch(/^processor-sandbox-/);
  });

  it('a lost answer is not retried blindly: PROCESSOR_TOKEN_OUTCOME_UNKNOWN, recorded, and still one token at Plaid', async () => {
    const { setup } = await exchangedWithAccount();
    const before = createCalls();
    await fault({ path: PROCESSOR, mode: 'lose_response' });
    const lost = await failure(setupPayment(deps, setup, attempt()));
    expect(lost).toMatchObject({ type: 'PROCESSOR_TOKEN_OUTCOME_UNKNOWN', nonRetryable: true });
    const retried = await failure(setupPayment(deps, setup, attempt()));
    expect(retried).toMatchObject({ type: 'PROCESSOR_TOKEN_OUTCOME_UNKNOWN', nonRetryable: true });
    expect(createCalls() - before).toBe(1);
    expect((await store.outcomeUnknownCounts()).processorTokens).toBeGreaterThan(0);
  });

  it('a request that never left (connection refused) is retried: one token', async () => {
    const { setup } = await exchangedWithAccount();
    const nowhere = createPlaidClient({
      basePath: 'http://127.0.0.1:1',
      clientId: 'fence',
      secret: 'fence-secret',
    });
    const before = createCalls();
    const refused = await failure(setupPayment({ ...deps, plaid: nowhere }, setup, attempt()));
    expect(refused).toMatchObject({ type: 'ECONNREFUSED', nonRetryable: false });
    await setupPayment(deps, setup, attempt());
    expect(createCalls() - before).toBe(1);
  });
});

describe('transfer authorization idempotency key', () => {
  it('is stable per session and account and within Plaid’s 50 characters', () => {
    const a = transferIdempotencyKey('link-sandbox-1', 'acc-1');
    expect(a).toHaveLength(50);
    expect(transferIdempotencyKey('link-sandbox-1', 'acc-1')).toBe(a);
    expect(transferIdempotencyKey('link-sandbox-1', 'acc-2')).not.toBe(a);
    expect(transferIdempotencyKey('link-sandbox-2', 'acc-1')).not.toBe(a);
  });
});
