/**
 * 3b. Cost of the polling path, with short timings: pollAfter 100 ms, pollEvery 20 ms (production
 * 5 min / 1 min, scaled 1:3000). The Temporal server fires timers no sooner than about a second
 * (a 20-160 ms timer fires after ~1 s; the figures report it), so each poll cycle takes ~1 s here
 * and the window is sized to hold at least as many polls as a real six-hour window makes at
 * production timings (`expectedPolls`): a whole window's worth of history, bounded or not.
 *
 * - window: nobody finishes Link (no webhook ever comes), the link token "expires" at the end of
 *   the window; the session polls `/link/token/get` until then and closes `expired`.
 * - recovery: the user finishes Link with three Items but no webhook arrives (the link token has
 *   no webhook URL, as if all were dropped); polling finds the Items and the session reaches
 *   `awaiting_payment_account`.
 */
import { randomUUID } from 'node:crypto';
import { startLinkSession } from '../src/temporal/startLinkSession';
import { getSessionQuery, linkSessionWorkflowId } from '../src/workflows/definitions';
import { nextPollDelay } from '../src/workflows/timing';
import type { SessionView, TimingPolicy } from '../src/workflows/types';
import { DEFAULT_TIMING } from '../src/workflows/types';
import { costOfAllRuns, firstRunIdOf, type RunsCost } from './history';
import { type BenchStack, emulatorCall } from './stack';
import { median, progress, round, until } from './util';

const SCALE = 3000;
const PRODUCTION_WINDOW_MS = 6 * 3_600_000;
/** ~1 s per poll cycle on the server's timer floor, a few cycles spare. */
const TIMER_FLOOR_MS = 1000;
const SCALED_TIMING: TimingPolicy = {
  pollAfterMs: DEFAULT_TIMING.pollAfterMs / SCALE,
  pollEveryMs: DEFAULT_TIMING.pollEveryMs / SCALE,
  resultsWindowMs: DEFAULT_TIMING.resultsWindowMs / SCALE,
  selectionTimeoutMs: DEFAULT_TIMING.selectionTimeoutMs,
};

export interface PollingResult {
  scale: string;
  timing_ms: TimingPolicy;
  window_ms: number;
  /** Median of what the workflow's timers asked for, and how long they took to fire. */
  timer_requested_ms: number;
  timer_fired_after_ms: number;
  sessions: number;
  status: string[];
  polls: number;
  polls_expected_at_production_timing: number;
  history_events: number;
  history_bytes: number;
  runs: number;
  continued_as_new: boolean;
  event_types: Record<string, number>;
  recovery: {
    status: string;
    polls: number;
    history_events: number;
    history_bytes: number;
    continued_as_new: boolean;
    link_complete_to_eligible_ms: number;
  };
}

/**
 * The polls the workflow's loop makes in a window of `windowMs` with no news: the first when
 * `pollAfter` of silence has passed, then `nextPollDelay` apart, then one last look at the end.
 */
export function expectedPolls(timing: TimingPolicy, windowMs: number): number {
  let polls = 0;
  let unchanged = 0;
  let t = timing.pollAfterMs;
  while (t < windowMs) {
    polls++;
    unchanged++;
    t += nextPollDelay(timing, unchanged);
  }
  return polls + 1;
}

async function newLinkToken(stack: BenchStack, clientUserId: string, webhook: boolean) {
  const plaid = stack.services.plaid;
  const { data: user } = await plaid.userCreate({ client_user_id: clientUserId });
  const { data: link } = await plaid.linkTokenCreate({
    client_name: 'linkflow bench',
    language: 'en',
    country_codes: ['US' as never],
    user: { client_user_id: clientUserId },
    user_id: user.user_id,
    products: ['transactions' as never],
    optional_products: ['auth' as never],
    enable_multi_item_link: true,
    ...(webhook && { webhook: `${stack.api.url}/webhooks/plaid` }),
  } as never);
  return { linkToken: link.link_token, userId: user.user_id };
}

async function startScaled(stack: BenchStack, clientUserId: string, expiresInMs: number) {
  const { linkToken, userId } = await newLinkToken(stack, clientUserId, false);
  const handle = await startLinkSession(
    stack.client,
    {
      linkToken,
      expiration: new Date(Date.now() + expiresInMs).toISOString(),
      userId,
      clientUserId,
      products: ['transactions'],
      payment: { product: 'auth' },
      timing: SCALED_TIMING,
      createdAt: new Date().toISOString(),
    },
    { taskQueue: stack.taskQueue },
  );
  return { linkToken, handle };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function benchPolling(stack: BenchStack, opts: { sessions: number }): Promise<PollingResult> {
  const productionPolls = expectedPolls(DEFAULT_TIMING, PRODUCTION_WINDOW_MS);
  const windowMs = (productionPolls + 3) * TIMER_FLOOR_MS;
  progress(
    `polling: ${opts.sessions} sessions, nobody finishes Link, window ${windowMs / 1000} s (>= ${productionPolls} polls, as many as 6 h at production timings)`,
  );
  const runs = await Promise.all(
    Array.from({ length: opts.sessions }, async (_, i) => {
      const { handle } = await startScaled(stack, `bench-poll-${i}-${randomUUID()}`, windowMs);
      const view: SessionView = await withTimeout(handle.result(), windowMs + 60_000, 'the polling window');
      const cost = await costOfAllRuns(stack.client, handle.workflowId, await firstRunIdOf(handle));
      return { view, cost };
    }),
  );

  progress('polling: recovery of a finished session whose webhooks never came');
  const recoveryClient = `bench-recover-${randomUUID()}`;
  const { linkToken, userId } = await newLinkToken(stack, recoveryClient, false);
  const handle = await startLinkSession(
    stack.client,
    {
      linkToken,
      expiration: new Date(Date.now() + 4 * 3_600_000).toISOString(),
      userId,
      clientUserId: recoveryClient,
      products: ['transactions'],
      payment: { product: 'auth' },
      timing: SCALED_TIMING,
      createdAt: new Date().toISOString(),
    },
    { taskQueue: stack.taskQueue },
  );
  const linkedAt = Date.now();
  await emulatorCall(stack, '/__emulator/link/complete', { link_token: linkToken });
  const recovered = await until(
    'the polled session to reach awaiting_payment_account',
    async () => {
      const view = await handle.query(getSessionQuery);
      return view.status === 'awaiting_payment_account' ? Date.now() : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  const recoveryCost: RunsCost = await costOfAllRuns(
    stack.client,
    linkSessionWorkflowId(linkToken),
    await firstRunIdOf(handle),
  );
  const recoveryView = await handle.query(getSessionQuery);
  await handle.terminate('benchmark polling phase done');

  const costs = runs.map((r) => r.cost);
  const first = costs[0] as RunsCost;
  return {
    scale: `1:${SCALE}`,
    timing_ms: SCALED_TIMING,
    window_ms: windowMs,
    timer_requested_ms: median(costs.flatMap((c) => c.timers.map((t) => t.requestedMs))),
    timer_fired_after_ms: median(costs.flatMap((c) => c.timers.map((t) => t.actualMs))),
    sessions: opts.sessions,
    status: runs.map((r) => r.view.status),
    polls: median(runs.map((r) => r.view.polling.polls)),
    polls_expected_at_production_timing: productionPolls,
    history_events: median(costs.map((c) => c.events)),
    history_bytes: median(costs.map((c) => c.bytes)),
    runs: Math.max(...costs.map((c) => c.runs)),
    continued_as_new: costs.some((c) => c.continuedAsNew),
    event_types: first.eventTypes,
    recovery: {
      status: recoveryView.status,
      polls: recoveryView.polling.polls,
      history_events: recoveryCost.events,
      history_bytes: recoveryCost.bytes,
      continued_as_new: recoveryCost.continuedAsNew,
      link_complete_to_eligible_ms: round(recovered - linkedAt, 0),
    },
  };
}
