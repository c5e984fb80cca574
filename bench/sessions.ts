/**
 * 2. Session throughput and latency, end to end through the real API and emulator: M sessions
 * created with `POST /link/sessions`, Link played with `/__emulator/link/complete` (three Items;
 * the emulator signs and delivers ITEM_ADD_RESULT x3 + SESSION_FINISHED to the API), until every
 * session is `awaiting_payment_account`.
 *
 * Detection does not perturb the sessions: one visibility count every 50 ms tells when all are
 * there; the precise times come afterwards from history. "Eligible" is the event time of the
 * UpsertWorkflowSearchAttributes that set `LinkSessionStatus = awaiting_payment_account` (the
 * moment it is durable); "SESSION_FINISHED received" is the API's receipt time, which the API
 * puts in the signal and the view shows as `finished_at`.
 *
 * 3a. Cost per session on the webhook path: history events and bytes at eligibility and, after
 * the payment-account choice (`POST .../payment-account`), at completion.
 */
import { linkSessionWorkflowId } from '../src/workflows/definitions';
import { type SessionView, TERMINAL_STATUSES } from '../src/workflows/types';
import { type CpuUse, cpuSnapshot, cpuUse, findDevServerPid } from './cpu';
import { type ActivityTiming, activityTimings, statusReachedAt } from './history';
import { waitWorkerQuiet } from './ingestion';
import { type ProfileSummary, profiled } from './profile';
import { apiCall, type BenchStack, createSession, emulatorCall } from './stack';
import { mapLimit, median, percentile, progress, round, until } from './util';

export interface SessionsOptions {
  sessions: number;
  reps: number;
  /** When set, one extra (uncounted) repetition is CPU-profiled. */
  profileDir?: string;
}

export interface SessionsRep {
  sessions_per_s: number;
  makespan_ms: number;
  finish_to_eligible_p50_ms: number;
  finish_to_eligible_p99_ms: number;
  create_to_eligible_p50_ms: number;
  /** CPU during the repetition (requests = sessions). */
  cpu: CpuUse;
}

export interface SessionsResult {
  sessions: number;
  items_per_session: number;
  reps: SessionsRep[];
  sessions_per_s: number;
  finish_to_eligible_p50_ms: number;
  finish_to_eligible_p99_ms: number;
  create_to_eligible_p50_ms: number;
  create_to_eligible_p99_ms: number;
  session_finished_ack_p50_ms: number;
  history_events_at_eligible: number;
  history_bytes_at_eligible: number;
  history_events_at_completed: number;
  history_bytes_at_completed: number;
  /** The same path one session at a time (no queueing behind other sessions). */
  single: { sessions: number; finish_to_eligible_p50_ms: number; create_to_eligible_p50_ms: number };
  failed_items: number;
  /** Sessions that never reached awaiting_payment_account (left out of the latency figures). */
  lost_sessions: LostSession[];
  duplicate_exchange_activities: number;
  sessions_with_duplicate_exchanges: number;
  /** Where finish -> eligible goes, from history event times (medians over every session). */
  breakdown: Breakdown;
  profile?: ProfileSummary;
}

export interface Breakdown {
  activities: Record<
    string,
    { per_session: number; queue_p50_ms: number; run_p50_ms: number; queue_p99_ms: number }
  >;
  finish_to_reconcile_scheduled_p50_ms: number;
  reconcile_queue_p50_ms: number;
  reconcile_run_p50_ms: number;
  /** From the last activity completing to the status change (the final workflow task). */
  last_activity_to_eligible_p50_ms: number;
  /** Sessions whose Item exchanges were all done before SESSION_FINISHED arrived. */
  exchanged_before_finish_share: number;
  /** Which activity completed last before eligibility (the critical path's end), share of sessions. */
  last_activity: Record<string, number>;
  /** When the reconcile poll finished last: how much later than every exchange and describe (p50). */
  reconcile_last_by_p50_ms: number;
  /**
   * From an exchange completing to the Item's describe being picked up by the worker: the workflow
   * task that schedules it plus queueing (what doing both in one activity would save per Item).
   */
  exchange_done_to_describe_started_p50_ms: number;
}

function breakdownOf(
  sessions: Array<{ activities: ActivityTiming[]; finishedAt: number; eligibleAt: number }>,
): Breakdown {
  const all = sessions.flatMap((s) => s.activities);
  const types = [...new Set(all.map((a) => a.type))];
  const activities = Object.fromEntries(
    types.map((type) => {
      const of = all.filter((a) => a.type === type);
      const queue = of.map((a) => a.startedAt - a.scheduledAt).filter(Number.isFinite);
      const run = of.map((a) => a.completedAt - a.startedAt).filter(Number.isFinite);
      return [
        type,
        {
          per_session: round(of.length / sessions.length, 2),
          queue_p50_ms: round(percentile(queue, 50), 1),
          queue_p99_ms: round(percentile(queue, 99), 1),
          run_p50_ms: round(percentile(run, 50), 1),
        },
      ];
    }),
  );
  const reconciles = sessions.flatMap((s) => {
    const r = s.activities.find(
      (a) => a.type === 'fetchLinkSessionResults' && a.scheduledAt >= s.finishedAt - 5,
    );
    return r ? [{ ...r, finishedAt: s.finishedAt }] : [];
  });
  const lastToEligible = sessions.map((s) => {
    const before = s.activities.filter((a) => a.completedAt <= s.eligibleAt).map((a) => a.completedAt);
    return before.length > 0 ? s.eligibleAt - Math.max(...before) : Number.NaN;
  });
  const lastTypes: Record<string, number> = {};
  const reconcileLastBy: number[] = [];
  for (const s of sessions) {
    const done = s.activities.filter((a) => a.completedAt <= s.eligibleAt);
    const last = done.reduce<ActivityTiming | null>(
      (m, a) => (!m || a.completedAt > m.completedAt ? a : m),
      null,
    );
    if (!last) continue;
    lastTypes[last.type] = (lastTypes[last.type] ?? 0) + 1;
    if (last.type === 'fetchLinkSessionResults') {
      const others = done.filter((a) => a !== last).map((a) => a.completedAt);
      if (others.length > 0) reconcileLastBy.push(last.completedAt - Math.max(...others));
    }
  }
  const hops: number[] = [];
  for (const s of sessions) {
    const exchanges = s.activities.filter((a) => a.type === 'exchangePublicToken').map((a) => a.completedAt);
    for (const d of s.activities.filter((a) => a.type === 'describeItem')) {
      const before = exchanges.filter((t) => t <= d.scheduledAt);
      if (before.length > 0) hops.push(d.startedAt - Math.max(...before));
    }
  }
  const exchangedFirst = sessions.filter((s) =>
    s.activities.filter((a) => a.type === 'exchangePublicToken').every((a) => a.completedAt <= s.finishedAt),
  ).length;
  return {
    activities,
    finish_to_reconcile_scheduled_p50_ms: round(
      percentile(
        reconciles.map((r) => r.scheduledAt - r.finishedAt),
        50,
      ),
      1,
    ),
    reconcile_queue_p50_ms: round(
      percentile(
        reconciles.map((r) => r.startedAt - r.scheduledAt),
        50,
      ),
      1,
    ),
    reconcile_run_p50_ms: round(
      percentile(
        reconciles.map((r) => r.completedAt - r.startedAt),
        50,
      ),
      1,
    ),
    last_activity_to_eligible_p50_ms: round(percentile(lastToEligible.filter(Number.isFinite), 50), 1),
    exchanged_before_finish_share: round(exchangedFirst / sessions.length, 2),
    last_activity: Object.fromEntries(
      Object.entries(lastTypes).map(([type, n]) => [type, round(n / sessions.length, 2)]),
    ),
    reconcile_last_by_p50_ms: round(percentile(reconcileLastBy, 50), 1),
    exchange_done_to_describe_started_p50_ms: round(percentile(hops.filter(Number.isFinite), 50), 1),
  };
}

interface Measured {
  sessionId: string;
  startedAt: number;
  eligibleAt: number;
  finishedAt: number;
  eventsAtEligible: number;
  bytesAtEligible: number;
  eventsAtCompleted: number;
  bytesAtCompleted: number;
  finishAckMs: number;
  activities: ActivityTiming[];
  /** Items the view shows as not exchanged (all three should be). */
  failedItems: number;
  /** Exchange activities beyond one per Item: the same public token exchanged twice. */
  duplicateExchanges: number;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

/** A session that ended somewhere other than `awaiting_payment_account`. */
export interface LostSession {
  session_id: string;
  status: string;
  items: string[];
  duplicate_exchanges: number;
}

const SETTLED_STATUSES = '("awaiting_payment_account", "completed", "failed", "exited", "expired")';

async function oneRep(
  stack: BenchStack,
  m: number,
  rep: number | string,
  concurrency = m,
): Promise<{ measured: Measured[]; lost: LostSession[] }> {
  const repStart = Date.now();
  const startedSince = new Date(repStart - 1).toISOString();
  stack.tap.clear();
  const started = await mapLimit(
    Array.from({ length: m }, (_, i) => i),
    concurrency,
    async (i) => {
      const startedAt = Date.now();
      const s = await createSession(stack, `bench-e2e-${rep}-${i}`);
      await emulatorCall(stack, '/__emulator/link/complete', { link_token: s.link_token });
      if (concurrency === 1) {
        // One at a time: wait for this one to settle before the next starts (no queueing).
        let last = '';
        await until(
          () =>
            `session ${s.session_id} to settle (last: ${last}; webhooks ${JSON.stringify(
              stack.tap.captured
                .filter((w) => w.linkToken === s.session_id)
                .map((w) => `${w.code}:${w.status ?? 'pending'}`),
            )})`,
          async () => {
            const view = await apiCall<SessionView>(stack, 'GET', `/link/sessions/${s.session_id}`);
            last = view.status;
            return view.status === 'awaiting_payment_account' || TERMINAL.has(view.status) ? true : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 20 },
        );
      }
      return { sessionId: s.session_id, startedAt };
    },
  );
  await until(
    `${m} sessions to settle (awaiting a payment account, or ended)`,
    async () => {
      const { count } = await stack.client.workflow.count(
        `LinkSessionStatus IN ${SETTLED_STATUSES} AND StartTime >= "${startedSince}"`,
      );
      return count >= m ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );

  // Precise times from history and the view, once everything is there.
  const lost: LostSession[] = [];
  const inspected = await mapLimit(started, 8, async ({ sessionId, startedAt }) => {
    const handle = stack.client.workflow.getHandle(linkSessionWorkflowId(sessionId));
    const history = await handle.fetchHistory();
    const eligibleAt = statusReachedAt(history.events ?? [], 'awaiting_payment_account');
    const activities = activityTimings(history.events ?? []);
    const view = await apiCall<SessionView>(stack, 'GET', `/link/sessions/${sessionId}`);
    const exchangeActivities = activities.filter((a) => a.type === 'exchangePublicToken').length;
    const duplicateExchanges = Math.max(0, exchangeActivities - view.items.length);
    const failedItems = view.items.filter((i) => i.status !== 'exchanged').length;
    if (eligibleAt === null || view.status !== 'awaiting_payment_account' || !view.finished_at) {
      lost.push({
        session_id: sessionId,
        status: view.status,
        items: view.items.map((i) => i.error?.code ?? i.status),
        duplicate_exchanges: duplicateExchanges,
      });
      progress(
        `  session ${sessionId} ended ${view.status}: Items ${JSON.stringify(view.items.map((i) => i.error?.code ?? i.status))}, ${exchangeActivities} exchange activities for ${view.items.length} Items`,
      );
      return null;
    }
    if (failedItems > 0) {
      progress(
        `  session ${sessionId}: ${failedItems} Item(s) not exchanged: ${JSON.stringify(view.items.map((i) => i.error?.code ?? i.status))}, ${exchangeActivities} exchange activities for ${view.items.length} Items`,
      );
    }
    const atEligible = await handle.describe();
    const finished = stack.tap.captured.find(
      (w) => w.code === 'SESSION_FINISHED' && w.linkToken === sessionId,
    );
    const measured: Measured & { account: string | undefined } = {
      sessionId,
      startedAt,
      eligibleAt,
      finishedAt: Date.parse(view.finished_at),
      eventsAtEligible: atEligible.historyLength,
      bytesAtEligible: atEligible.historySize ?? 0,
      eventsAtCompleted: 0,
      bytesAtCompleted: 0,
      finishAckMs: finished?.answeredAt ? finished.answeredAt - finished.sentAt : Number.NaN,
      activities,
      failedItems,
      duplicateExchanges,
      account: view.eligible_accounts[0]?.account_id,
    };
    return measured;
  });
  const measured = inspected.filter((x): x is Measured & { account: string | undefined } => x !== null);

  // Finish each session like a user would (choose the payment account), for the whole-life cost.
  await mapLimit(measured, 8, async (s) => {
    if (!s.account) throw new Error(`session ${s.sessionId} offers no eligible account`);
    const view = await apiCall<SessionView>(stack, 'POST', `/link/sessions/${s.sessionId}/payment-account`, {
      account_id: s.account,
    });
    if (view.status !== 'completed')
      throw new Error(`session ${s.sessionId} is ${view.status} after the choice`);
    // The run itself stays open while the link token could still produce Items (hours): the cost
    // of a completed session is its history at the moment the choice completed it.
    const handle = stack.client.workflow.getHandle(linkSessionWorkflowId(s.sessionId));
    const d = await handle.describe();
    s.eventsAtCompleted = d.historyLength;
    s.bytesAtCompleted = d.historySize ?? 0;
  });
  return { measured, lost };
}

export async function benchSessions(stack: BenchStack, opts: SessionsOptions): Promise<SessionsResult> {
  const reps: SessionsRep[] = [];
  const all: Measured[] = [];
  const lost: LostSession[] = [];
  // Warm-up: one session through the same path (first-time code paths, connections).
  await oneRep(stack, 2, -1);
  await waitWorkerQuiet(stack);
  const devServerPid = findDevServerPid();
  for (let rep = 0; rep < opts.reps; rep++) {
    const before = cpuSnapshot(null, devServerPid);
    const { measured, lost: lostHere } = await oneRep(stack, opts.sessions, rep);
    lost.push(...lostHere);
    if (measured.length === 0) throw new Error('no session reached awaiting_payment_account');
    const cpu = cpuUse(before, cpuSnapshot(null, devServerPid), opts.sessions);
    const repStart = Math.min(...measured.map((s) => s.startedAt));
    const makespan = Math.max(...measured.map((s) => s.eligibleAt)) - repStart;
    const finishToEligible = measured.map((s) => s.eligibleAt - s.finishedAt);
    const createToEligible = measured.map((s) => s.eligibleAt - s.startedAt);
    const figures: SessionsRep = {
      sessions_per_s: round(opts.sessions / (makespan / 1000), 2),
      makespan_ms: makespan,
      finish_to_eligible_p50_ms: round(percentile(finishToEligible, 50), 1),
      finish_to_eligible_p99_ms: round(percentile(finishToEligible, 99), 1),
      create_to_eligible_p50_ms: round(percentile(createToEligible, 50), 1),
      cpu,
    };
    reps.push(figures);
    all.push(...measured);
    progress(
      `sessions rep ${rep + 1}/${opts.reps}: ${figures.sessions_per_s} sessions/s, finish->eligible p50 ${figures.finish_to_eligible_p50_ms} ms p99 ${figures.finish_to_eligible_p99_ms} ms (main thread ${cpu.main_thread_cores} cores, other threads ${cpu.other_threads_cores}, dev server ${cpu.dev_server_cores}, other processes ${cpu.other_processes_cores})`,
    );
    await waitWorkerQuiet(stack);
  }
  // Uncontended latency: five sessions one after another.
  const { measured: singles, lost: lostSingles } = await oneRep(stack, 5, 'single', 1);
  lost.push(...lostSingles);
  await waitWorkerQuiet(stack);
  let profile: ProfileSummary | undefined;
  if (opts.profileDir) {
    progress('sessions: profiling one extra repetition (not counted)');
    [, profile] = await profiled(opts.profileDir, `sessions-${opts.sessions}`, () =>
      oneRep(stack, opts.sessions, 'profiled'),
    );
    await waitWorkerQuiet(stack);
  }
  return {
    ...(profile && { profile }),
    sessions: opts.sessions,
    items_per_session: 3,
    single: {
      sessions: singles.length,
      finish_to_eligible_p50_ms: round(
        percentile(
          singles.map((x) => x.eligibleAt - x.finishedAt),
          50,
        ),
        1,
      ),
      create_to_eligible_p50_ms: round(
        percentile(
          singles.map((x) => x.eligibleAt - x.startedAt),
          50,
        ),
        1,
      ),
    },
    failed_items: all.reduce((a, x) => a + x.failedItems, 0),
    lost_sessions: lost,
    duplicate_exchange_activities:
      [...all, ...singles].reduce((a, x) => a + x.duplicateExchanges, 0) +
      lost.reduce((a, x) => a + x.duplicate_exchanges, 0),
    sessions_with_duplicate_exchanges:
      [...all, ...singles].filter((x) => x.duplicateExchanges > 0).length +
      lost.filter((x) => x.duplicate_exchanges > 0).length,
    reps,
    sessions_per_s: round(median(reps.map((r) => r.sessions_per_s)), 2),
    finish_to_eligible_p50_ms: round(median(reps.map((r) => r.finish_to_eligible_p50_ms)), 1),
    finish_to_eligible_p99_ms: round(median(reps.map((r) => r.finish_to_eligible_p99_ms)), 1),
    create_to_eligible_p50_ms: round(median(reps.map((r) => r.create_to_eligible_p50_ms)), 1),
    create_to_eligible_p99_ms: round(
      percentile(
        all.map((s) => s.eligibleAt - s.startedAt),
        99,
      ),
      1,
    ),
    session_finished_ack_p50_ms: round(median(all.map((s) => s.finishAckMs).filter(Number.isFinite)), 1),
    history_events_at_eligible: median(all.map((s) => s.eventsAtEligible)),
    history_bytes_at_eligible: median(all.map((s) => s.bytesAtEligible)),
    history_events_at_completed: median(all.map((s) => s.eventsAtCompleted)),
    history_bytes_at_completed: median(all.map((s) => s.bytesAtCompleted)),
    breakdown: breakdownOf(all),
  };
}
