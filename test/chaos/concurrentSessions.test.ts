/**
 * Many Link sessions at once under random, seeded trouble: LINK webhooks dropped, duplicated,
 * shuffled and delayed on their way to the real API (verification on); Plaid answering
 * RATE_LIMIT / INTERNAL_SERVER_ERROR / PLANNED_MAINTENANCE on the exchange, /item/get,
 * /accounts/get and /link/token/get; public tokens expiring before they are exchanged. Whatever
 * happens, every public token ends exchanged exactly once or failed with a reason, and Plaid, the
 * store and every session view agree (audit.ts).
 *
 * 50 sessions by default; LINKFLOW_SOAK=1 (`npm run test:soak`) runs 500. The seed is printed;
 * LINKFLOW_CHAOS_SEED=<seed> repeats a run.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PaymentChoice, SessionView } from '../../src/workflows/types';
import {
  type CompletedLink,
  chaosSeed,
  createPostgresSchema,
  isSoak,
  type LinkflowStack,
  linkPaymentAccount,
  mapLimit,
  Rng,
  settledView,
  startLinkflowStack,
  TERMINAL,
  untilStatus,
  type WebhookFaults,
  waitFor,
} from '../helpers/linkflowStack';
import { linkSessionBundle } from '../helpers/temporal';
import { type AuditedSession, auditSessions, timeline } from './audit';

const SOAK = isSoak();
const SESSIONS = SOAK ? 500 : 50;
const INSTITUTIONS = [
  'ins_109508',
  'ins_109509',
  'ins_linkflow_no_auth',
  'ins_linkflow_zero_balance',
  'ins_linkflow_no_auth_accounts',
];
const FAULT_PATHS = ['/item/public_token/exchange', '/item/get', '/accounts/get', '/link/token/get'];
const FAULT_CODES = ['RATE_LIMIT', 'INTERNAL_SERVER_ERROR', 'PLANNED_MAINTENANCE'];

interface Plan {
  payment: PaymentChoice | null;
  exit: boolean;
  institutions: string[];
  webhooks: WebhookFaults;
  expireOne: boolean;
  fault: Fault | null;
  /** The user opens Link a second time on the same token and links one more bank. */
  reopen: string | null;
}

type Fault =
  | { path: string; error_code: string; times: number }
  /** Plaid does the work and the answer is lost (a reset connection). */
  | { path: string; mode: 'lose_response'; times: number };

const losesExchangeAnswers = (p: Plan) =>
  p.fault !== null && 'mode' in p.fault && p.fault.path === '/item/public_token/exchange' ? p.fault.times : 0;

function planFor(rng: Rng): Plan {
  const exit = rng.chance(0.1);
  const expireOne = !exit && rng.chance(0.15);
  const drop = rng.pick<boolean | number>([false, false, false, true, 0.5]);
  return {
    payment: rng.chance(0.5) ? { product: 'auth' } : null,
    exit,
    institutions: exit ? [] : rng.sample(INSTITUTIONS, rng.int(1, 3)),
    webhooks: {
      ...(drop !== false && { drop }),
      ...(rng.chance(0.4) && { duplicate: rng.int(2, 3) }),
      ...(rng.chance(0.4) && { shuffle: true }),
      // A token about to expire is announced late, so the expiry lands first.
      ...((expireOne || rng.chance(0.3)) && { delay_ms: expireOne ? 400 : rng.int(20, 250) }),
    },
    expireOne,
    fault: rng.chance(0.15)
      ? {
          path: rng.pick(['/item/public_token/exchange', '/link/token/get']),
          mode: 'lose_response',
          times: 1,
        }
      : rng.chance(0.6)
        ? { path: rng.pick(FAULT_PATHS), error_code: rng.pick(FAULT_CODES), times: rng.int(1, 2) }
        : null,
    reopen: rng.chance(0.15) ? rng.pick(INSTITUTIONS) : null,
  };
}

let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>> | null = null;

beforeAll(async () => {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  pg = databaseUrl ? await createPostgresSchema(databaseUrl) : null;
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    ...(pg && { databaseUrl: pg.url }),
    bundle: await linkSessionBundle(),
    webhookRetryDelaysMs: [100, 250, 500, 1000, 2000, 4000],
  });
});

afterAll(async () => {
  await stack?.close();
  await pg?.dispose();
});

describe('chaos: concurrent sessions under webhook and Plaid faults', () => {
  it(
    `${SESSIONS} concurrent sessions: every public token exchanged exactly once or failed with a reason`,
    async () => {
      const seed = chaosSeed();
      console.log(`chaos seed ${seed} (repeat with LINKFLOW_CHAOS_SEED=${seed})`);
      const rng = new Rng(seed);
      const plans = Array.from({ length: SESSIONS }, () => planFor(rng));
      const started = Date.now();
      const faultsRequested: Fault[] = [];
      const chosen = new Set<string>();

      const runSession = async (plan: Plan, i: number): Promise<AuditedSession & { plan: Plan }> => {
        const { linkToken, handle } = await stack.createSession({
          clientUserId: `chaos-user-${i % 17}`,
          payment: plan.payment,
        });
        if (plan.fault) {
          await stack.emulator('/__emulator/faults', plan.fault);
          faultsRequested.push(plan.fault);
        }
        let link: CompletedLink | null;
        if (plan.exit) {
          link = await stack.completeLink(linkToken, {
            status: 'EXITED',
            institutions: [],
            webhooks: plan.webhooks,
          });
        } else {
          link = await stack.completeLink(linkToken, {
            institutions: plan.institutions,
            webhooks: plan.webhooks,
          });
          if (plan.expireOne && link.public_tokens[0]) {
            await stack.emulator('/__emulator/public_token/expire', { public_token: link.public_tokens[0] });
          }
        }
        const links = [link];
        if (plan.reopen) {
          // A second Link session on the same token, once the first was seen to end.
          await untilStatus(
            stack,
            linkToken,
            (s) => s !== 'waiting_for_user' && s !== 'linking',
            180_000,
            200,
          );
          links.push(
            await stack.completeLink(linkToken, { institutions: [plan.reopen], webhooks: plan.webhooks }),
          );
          // Until its webhooks (or a poll) arrive the session still shows the first Link's end,
          // possibly final: a chooser that looked then would never see the new account.
          const produced = links.reduce((n, l) => n + (l?.items.length ?? 0), 0);
          await waitFor(
            `the reopened Link of ${linkToken} to be seen`,
            async () => {
              const v = await stack.view(linkToken);
              return v.items.length >= produced && v.status !== 'linking';
            },
            { timeoutMs: 180_000, intervalMs: 200 },
          );
        }
        if (plan.payment) {
          const v = await untilStatus(
            stack,
            linkToken,
            (s) => s === 'awaiting_payment_account' || TERMINAL.includes(s),
            SOAK ? 600_000 : 180_000,
            SOAK ? 500 : 200,
          );
          let account = v.eligible_accounts[0] as { account_id: string } | undefined;
          if (v.status === 'awaiting_payment_account' && !account) {
            // No linked account can move money: the user links one through the payment Link.
            const paid = await linkPaymentAccount(stack, linkToken, SOAK ? 600_000 : 180_000);
            links.push(...paid.links);
            if (paid.accountId) account = { account_id: paid.accountId };
          }
          if (v.status === 'awaiting_payment_account' && account) {
            chosen.add(linkToken);
            // Retried on 503 like any client: the update has a fixed id, so a retry attaches to it.
            const res = await waitFor(
              `POST /link/sessions/${linkToken}/payment-account`,
              async () => {
                const r = await stack.api<SessionView>(
                  'POST',
                  `/link/sessions/${linkToken}/payment-account`,
                  {
                    account_id: account.account_id,
                  },
                );
                // 409: a reopened Link is still adding Items; the chooser asks again once it settles.
                return r.status === 503 || (plan.reopen && r.status === 409) ? undefined : r;
              },
              { timeoutMs: 120_000, intervalMs: 250 },
            );
            expect(res.status, JSON.stringify(res.body)).toBe(200);
          }
        }
        const result = plan.reopen
          ? await waitFor(
              `both Link sessions of ${linkToken} settled`,
              async () => {
                const v = await settledView(handle);
                const produced = links.reduce((n, l) => n + (l?.items.length ?? 0), 0);
                return v.items.length >= produced ? v : undefined;
              },
              { timeoutMs: 180_000, intervalMs: 250 },
            )
          : await settledView(handle);
        // 503 means "Temporal did not answer in time, retry" (a closed session's query replays
        // its history on a busy worker): a client retries, and so does this one.
        const apiView = await waitFor(
          `GET /link/sessions/${linkToken}`,
          async () => {
            const res = await stack.api<SessionView>('GET', `/link/sessions/${linkToken}`);
            return res.status === 503 ? undefined : res;
          },
          { timeoutMs: 120_000, intervalMs: 250 },
        );
        expect(apiView.status).toBe(200);
        return {
          linkToken,
          link,
          links: links.filter((l): l is CompletedLink => l !== null),
          result,
          apiView: apiView.body,
          plan,
        };
      };

      // All 50 in flight together; the soak keeps 100 in flight at a time.
      const sessions = await mapLimit(plans, SOAK ? 100 : 50, runSession);
      const state = await stack.emulatorState();
      const { summary, violations } = await auditSessions(sessions, { state, store: stack.store });

      const requestedBy = (key: 'path' | 'error_code') =>
        faultsRequested.reduce<Record<string, number>>((acc, f) => {
          const k = key === 'path' ? f.path : 'mode' in f ? f.mode : f.error_code;
          acc[k] = (acc[k] ?? 0) + f.times;
          return acc;
        }, {});
      const expiredRequested = plans.filter((p) => p.expireOne).length;
      console.log(
        JSON.stringify({
          chaos: 'concurrent-sessions',
          seed,
          duration_ms: Date.now() - started,
          ...summary,
          expired_tokens_requested: expiredRequested,
          faults: {
            requested_by_code: requestedBy('error_code'),
            requested_by_path: requestedBy('path'),
            injected_by_path: state.faults_injected ?? {},
            still_pending: state.faults_pending ?? [],
          },
          store_driver: stack.db.kind,
        }),
      );

      // On failure, the story of each session concerned, for the report.
      for (const s of sessions.filter((x) => violations.some((v) => v.includes(x.linkToken)))) {
        console.log(
          JSON.stringify({
            session: s.linkToken,
            plan: s.plan,
            status: s.result.status,
            timeline: await timeline(stack.handle(s.linkToken)),
          }),
        );
      }
      expect(violations).toEqual([]);
      expect(summary.silent_losses).toBe(0);
      // A lost exchange answer is the only way to an unknown outcome; each is recorded as such.
      // (An INTERNAL_SERVER_ERROR may also have reached Plaid: followed by a refusal, that token is
      // unknown too, though Plaid never exchanged it.)
      expect(summary.explained_losses).toBeLessThanOrEqual(summary.outcome_unknown);
      // Only a lost answer can leave an exchanged token unstored.
      expect(summary.explained_losses).toBeLessThanOrEqual(
        plans.reduce((n, p) => n + losesExchangeAnswers(p), 0),
      );
      expect(summary.double_exchanges).toBe(0);
      expect(summary.tokens_produced).toBeGreaterThan(SESSIONS);
      // The outcome each plan implies.
      for (const s of sessions) {
        const where = `${s.linkToken} ${JSON.stringify(s.plan)}`;
        if (s.plan.exit && !s.plan.reopen) {
          expect(s.result.status, where).toBe('exited');
          continue;
        }
        const ok = s.result.items.filter((i) => i.status === 'exchanged').length;
        // Users have several sessions: a bank the user already linked is a duplicate, not exchanged.
        const dup = s.result.items.filter((i) => i.status === 'duplicate').length;
        expect(s.result.status, where).toBe(ok + dup > 0 ? 'completed' : 'failed');
        // Every Link's Items, the payment Link's included.
        const linked = (s.links ?? []).reduce((n, l) => n + l.items.length, 0);
        // Faults are global to the emulator: a lost answer may hit any session's exchange.
        const unknown = s.result.items.filter((i) => i.status === 'outcome_unknown').length;
        if (!s.plan.expireOne) expect(ok + unknown + dup, where).toBe(linked);
        // Chosen whenever the session awaited a choice (an Item expired on purpose may leave none).
        if (chosen.has(s.linkToken)) {
          expect(s.result.payment_account?.product, where).toBe('auth');
        }
      }
      // Faults really happened, on every kind of call.
      expect(Object.values(state.faults_injected ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(summary.failed_by_code.INVALID_PUBLIC_TOKEN ?? 0).toBeGreaterThan(0);
      expect(summary.duplicates_delivered).toBeGreaterThan(0);
    },
    SOAK ? 1_800_000 : 300_000,
  );
});
