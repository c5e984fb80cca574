/**
 * The worker is the production process (`node --import tsx src/main/worker.ts`, configured by env
 * like `npm run worker`) and is SIGKILLed at random points while Link sessions run: between
 * webhooks, during exchanges, while Items are described. After each kill a new worker process
 * starts. Every session must still end, no public token may be exchanged twice, and every Item
 * Plaid exchanged must be in the store (audit.ts).
 *
 * The store is a fresh schema on the throwaway PostgreSQL server, shared by this process (API,
 * assertions) and the worker processes. 10 sessions and 4 kills by default; LINKFLOW_SOAK=1 runs
 * 40 sessions and 12 kills.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EventReceiver, startEventReceiver } from '../helpers/eventReceiver';
import {
  type CompletedLink,
  chaosSeed,
  createPostgresSchema,
  isSoak,
  killLeftoverWorker,
  type LinkflowStack,
  Rng,
  settledView,
  spawnWorkerProcess,
  startLinkflowStack,
  type WebhookFaults,
  type WorkerProcess,
  waitFor,
  workerEnv,
  workflowTaskFailures,
} from '../helpers/linkflowStack';
import { type AuditedSession, auditSessions, timeline } from './audit';

const SOAK = isSoak();
const SESSIONS = SOAK ? 40 : 10;
const KILLS = SOAK ? 12 : 4;
const INSTITUTIONS = [
  'ins_109508',
  'ins_109509',
  'ins_linkflow_no_auth',
  'ins_linkflow_zero_balance',
  'ins_linkflow_no_auth_accounts',
];
const databaseUrl = process.env.TEST_DATABASE_URL;

let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>>;
let dataDir: string;
let receiver: EventReceiver;
// Outbound events on: each session schedules a local activity per change, the riskiest thing to
// replay after a SIGKILL (README "Outbound events and worker restarts").
const EVENTS_SECRET = `whsec_${Buffer.from('worker-killed-chaos-events-secret-0123').toString('base64')}`;

let worker: WorkerProcess | undefined;

beforeAll(async () => {
  if (!databaseUrl) return;
  receiver = await startEventReceiver(EVENTS_SECRET);
  pg = await createPostgresSchema(databaseUrl);
  dataDir = await mkdtemp(join(tmpdir(), 'linkflow-worker-'));
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    databaseUrl: pg.url,
    worker: false,
    // Long enough to outlast a worker restart, so most webhooks are delivered, not polled for.
    webhookRetryDelaysMs: [200, 500, 1000, 2000, 4000, 8000],
    events: {
      url: receiver.url,
      secret: EVENTS_SECRET,
      retry: { initialIntervalMs: 200, maximumIntervalMs: 1_000, giveUpAfterMs: 600_000 },
    },
  });
});

afterAll(async () => {
  await killLeftoverWorker(worker);
  await stack?.close();
  await receiver?.close();
  await pg?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!databaseUrl)('chaos: the worker process is killed', () => {
  it(
    `${SESSIONS} sessions, worker SIGKILLed ${KILLS} times at random points: every session ends, nothing exchanged twice or lost`,
    async () => {
      const seed = chaosSeed();
      console.log(`chaos seed ${seed} (repeat with LINKFLOW_CHAOS_SEED=${seed})`);
      const rng = new Rng(seed);
      const env = {
        ...workerEnv(stack, dataDir),
        LINKFLOW_EVENTS_URL: receiver.url,
        LINKFLOW_EVENTS_SECRET: EVENTS_SECRET,
        LINKFLOW_EVENTS_RETRY_INITIAL: '200ms',
        LINKFLOW_EVENTS_RETRY_MAX_INTERVAL: '1s',
      };
      const started = Date.now();

      worker = await spawnWorkerProcess(env);
      const readyTimes: number[] = [Date.now() - started];

      const plans = Array.from({ length: SESSIONS }, () => ({
        institutions: rng.sample(INSTITUTIONS, rng.int(1, 3)),
        // When the user finishes Link, after the session started (scenario timing, not a wait).
        finishAfterMs: rng.int(0, 6_000),
        webhooks: {
          ...(rng.chance(0.25) && { drop: true }),
          ...(rng.chance(0.3) && { duplicate: 2 }),
          ...(rng.chance(0.3) && { shuffle: true }),
          ...(rng.chance(0.5) && { delay_ms: rng.int(10, 300) }),
        } as WebhookFaults,
      }));
      // Half the kills at a random moment; half aimed just after Plaid answered an exchange, the
      // window in which a killed worker loses the access token (see exchangePublicToken.ts).
      const killPlan = Array.from({ length: KILLS }, (_, k) => ({
        kind: k % 2 === 0 ? 'random' : 'aimed',
        afterMs: k % 2 === 0 ? rng.int(200, 3_000) : rng.int(0, 150),
      }));

      const sessionsDone = Promise.all(
        plans.map(async (plan, i): Promise<AuditedSession> => {
          const { linkToken, handle } = await stack.createSession({ clientUserId: `kill-user-${i}` });
          await delay(plan.finishAfterMs);
          const link: CompletedLink = await stack.completeLink(linkToken, {
            institutions: plan.institutions,
            webhooks: plan.webhooks,
          });
          // Generous: after a kill, queries wait for a worker to replay the session (slow under load).
          return { linkToken, link, result: await settledView(handle, 300_000) };
        }),
      );
      let finished = false;
      void sessionsDone.finally(() => {
        finished = true;
      });

      const exchangesAtPlaid = async () =>
        Object.values((await stack.emulatorState()).exchanges).reduce((a, b) => a + b, 0);
      // The tokens Plaid had exchanged when each worker died: a token lost in the window is charged
      // to the first kill after which it shows as exchanged.
      const exchangedAtKill: Array<Set<string>> = [];
      const kills: Array<{
        kind: string;
        at_ms: number;
        exchanges_before: number;
        exit_signal: string | null;
      }> = [];
      for (const point of killPlan) {
        if (finished) break;
        let kind = point.kind;
        if (point.kind === 'aimed') {
          const base = await exchangesAtPlaid();
          const aimed = await waitFor(
            'an exchange to aim the kill at',
            async () => finished || (await exchangesAtPlaid()) > base,
            { timeoutMs: 15_000, intervalMs: 20 },
          ).catch(() => false);
          if (!aimed) kind = 'aimed-but-no-exchange';
        }
        if (finished) break;
        await delay(point.afterMs);
        const exchangesBefore = await exchangesAtPlaid();
        worker.child.kill('SIGKILL');
        const exit = await worker.exited;
        exchangedAtKill.push(
          new Set(
            Object.entries((await stack.emulatorState()).exchanges)
              .filter(([, n]) => n > 0)
              .map(([t]) => t),
          ),
        );
        kills.push({
          kind,
          at_ms: Date.now() - started,
          exchanges_before: exchangesBefore,
          exit_signal: exit.signal,
        });
        const t0 = Date.now();
        worker = await spawnWorkerProcess(env);
        readyTimes.push(Date.now() - t0);
      }

      const sessions = await sessionsDone.catch((err: Error) => {
        // Say whether the last worker was still up, and what it printed, with the failure.
        const last = worker;
        if (!last) throw err;
        const { exitCode, signalCode } = last.child;
        const state =
          exitCode === null && signalCode === null ? 'running' : `exited (${exitCode ?? signalCode})`;
        err.message += `\n(last worker ${state}; its last output:\n${last.output().split('\n').slice(-40).join('\n')})`;
        throw err;
      });
      // Every session's final status and every exchanged Item reach the customer, whatever the
      // kills interrupted (delivered by the last worker, so before it stops).
      const expectedEvents = sessions.flatMap((s) => [
        `${s.result.session_id}:link_session.${s.result.status}`,
        ...s.result.items
          .filter((i) => i.status === 'exchanged')
          .map((i) => `${s.result.session_id}:item.exchanged:${i.item_id}`),
      ]);
      const undelivered = await waitFor(
        'every session event to be delivered',
        () => {
          const ids = new Set(receiver.delivered().map((a) => a.webhookId));
          const missing = expectedEvents.filter((id) => !ids.has(id));
          return missing.length === 0 ? missing : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      ).catch(() => {
        const ids = new Set(receiver.delivered().map((a) => a.webhookId));
        return expectedEvents.filter((id) => !ids.has(id));
      });
      worker.child.kill('SIGTERM');
      await worker.exited;

      const state = await stack.emulatorState();
      const { summary, violations } = await auditSessions(sessions, { state, store: stack.store });
      const lossesByKind: Record<string, number> = {};
      for (const s of sessions) {
        const stored = new Set((await stack.store.listItems(s.linkToken)).map((i) => i.itemId));
        for (const item of s.link?.items ?? []) {
          if ((state.exchanges[item.public_token] ?? 0) === 0 || stored.has(item.item_id)) continue;
          const k = exchangedAtKill.findIndex((set) => set.has(item.public_token));
          const kind = kills[k]?.kind ?? 'no-kill';
          lossesByKind[kind] = (lossesByKind[kind] ?? 0) + 1;
        }
      }
      console.log(
        JSON.stringify({
          chaos: 'worker-killed',
          seed,
          duration_ms: Date.now() - started,
          kills: kills.length,
          kill_points: kills,
          // Items Plaid exchanged whose access token died with a killed worker: reported on the
          // session (INVALID_PUBLIC_TOKEN + "an earlier attempt may have exchanged it"), never silent.
          window_losses: summary.explained_losses,
          window_losses_by_kill_kind: lossesByKind,
          worker_ready_ms: readyTimes,
          events_expected: expectedEvents.length,
          events_delivered: receiver.delivered().length,
          event_attempts: receiver.attempts.length,
          ...summary,
        }),
      );
      for (const s of sessions.filter((x) => violations.some((v) => v.includes(x.linkToken)))) {
        console.log(
          JSON.stringify({
            session: s.linkToken,
            status: s.result.status,
            timeline: await timeline(stack.handle(s.linkToken)),
          }),
        );
      }
      // A new worker replays what the killed one decided; queries reach workers that have not
      // cached the run yet. No session may ever fail a workflow task on replay.
      const nondeterminism = (
        await Promise.all(
          sessions.map(async (s) => {
            const handle = stack.handle(s.linkToken);
            return (await workflowTaskFailures(() => handle.fetchHistory())).map(
              (f) => `${s.linkToken}: ${f}`,
            );
          }),
        )
      )
        .flat()
        .filter((f) => f.includes('NON_DETERMINISTIC'));
      expect(nondeterminism).toEqual([]);
      expect(undelivered).toEqual([]);
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
      expect(kills.length).toBeGreaterThanOrEqual(Math.min(2, KILLS));
      expect(kills.every((k) => k.exit_signal === 'SIGKILL')).toBe(true);
      expect(violations).toEqual([]);
      expect(summary.double_exchanges).toBe(0);
      expect(summary.silent_losses).toBe(0);
      // Every Item lost was lost by a worker that was killed, inside its exchange window.
      expect(lossesByKind['no-kill'] ?? 0).toBe(0);
      for (const s of sessions) expect(['completed', 'failed']).toContain(s.result.status);
    },
    SOAK ? 1_800_000 : 420_000,
  );
});
