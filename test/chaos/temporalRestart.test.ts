/**
 * The Temporal server goes away while Link sessions are open, and Plaid's webhooks arrive while it
 * is down: the API must answer them 5xx (so Plaid retries, as it does on any non-200) instead of
 * acknowledging events it could not hand over. When the server is back on the same SQLite file and
 * port, a new worker connects, the emulator's retries are accepted, and every session finishes.
 *
 * The server is this test's own dev server (not the shared one), so stopping it harms no other
 * suite. 6 sessions by default; LINKFLOW_SOAK=1 runs 30.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/temporal/devServer';
import {
  type CompletedLink,
  chaosSeed,
  createPostgresSchema,
  freePort,
  isSoak,
  type LinkflowStack,
  linkPaymentAccount,
  mapLimit,
  Rng,
  settledView,
  startLinkflowStack,
  untilStatus,
  waitFor,
} from '../helpers/linkflowStack';
import { linkSessionBundle } from '../helpers/temporal';
import { type AuditedSession, auditSessions } from './audit';

const SOAK = isSoak();
const SESSIONS = SOAK ? 30 : 6;
const INSTITUTIONS = [
  'ins_109508',
  'ins_109509',
  'ins_linkflow_no_auth',
  'ins_linkflow_zero_balance',
  'ins_linkflow_no_auth_accounts',
];

let dir: string;
let port: number;
let server: DevServer | undefined;
let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>> | null = null;

const startServer = () => startDevServer({ dbFilename: join(dir, 't.sqlite'), port });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linkflow-temporal-'));
  port = await freePort();
  server = await startServer();
  const databaseUrl = process.env.TEST_DATABASE_URL;
  pg = databaseUrl ? await createPostgresSchema(databaseUrl) : null;
  stack = await startLinkflowStack({
    temporal: { address: server.address, namespace: server.namespace },
    ...(pg && { databaseUrl: pg.url }),
    bundle: await linkSessionBundle(),
    // Plaid-like retries, shortened: about 40 s in all, longer than the outage.
    webhookRetryDelaysMs: [300, 600, 1200, 2400, 4800, 9600, 19200],
    temporalTimeoutMs: 2_000,
  });
});

afterAll(async () => {
  await stack?.close();
  await server?.stop();
  await pg?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('chaos: the Temporal server restarts', () => {
  it(
    `${SESSIONS} open sessions survive a Temporal restart; webhooks sent meanwhile are refused with 5xx and retried`,
    async () => {
      const seed = chaosSeed();
      console.log(`chaos seed ${seed} (repeat with LINKFLOW_CHAOS_SEED=${seed})`);
      const rng = new Rng(seed);
      const started = Date.now();

      // Sessions in flight: created, their workflows running (first task done), nobody linked yet.
      const created = await mapLimit(Array.from({ length: SESSIONS }), 10, async (_, i) => {
        const { linkToken, handle } = await stack.createSession({
          clientUserId: `restart-user-${i}`,
          payment: rng.chance(0.5) ? { product: 'auth' } : null,
        });
        await untilStatus(stack, linkToken, (s) => s === 'waiting_for_user', 30_000);
        return { linkToken, handle };
      });

      // Temporal goes away: the worker first, gracefully, then the server.
      await stack.stopWorker();
      const downAt = Date.now();
      await server?.stop();
      server = undefined;

      // Meanwhile users finish Link: Plaid sends the webhooks to the API, which cannot hand them on.
      const links = new Map<string, CompletedLink>();
      for (const { linkToken } of created) {
        links.set(
          linkToken,
          await stack.completeLink(linkToken, { institutions: rng.sample(INSTITUTIONS, rng.int(1, 3)) }),
        );
      }
      const linkTokens = new Set(created.map((c) => c.linkToken));
      const refused = await waitFor(
        'every session to have a webhook refused while Temporal is down',
        async () => {
          const { webhooks } = await stack.emulatorState();
          const mine = webhooks.filter((w) => linkTokens.has(w.link_token));
          const refusedNow = mine.filter(
            (w) => w.attempts >= 1 && !w.delivered && (w.last_status ?? 0) >= 500,
          );
          const sessionsRefused = new Set(refusedNow.map((w) => w.link_token));
          return (
            sessionsRefused.size === linkTokens.size && mine.every((w) => w.delivered === false) && refusedNow
          );
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const statuses = [...new Set(refused.map((w) => w.last_status))];
      expect(statuses.every((s) => (s ?? 0) >= 500 && (s ?? 0) < 600)).toBe(true);

      // Temporal comes back on the same database and port; a new worker connects.
      server = await startServer();
      const downForMs = Date.now() - downAt;
      await stack.startWorker();

      const sessions: AuditedSession[] = await mapLimit(created, 10, async ({ linkToken, handle }) => {
        const v = await untilStatus(
          stack,
          linkToken,
          (s) => s === 'awaiting_payment_account' || ['completed', 'exited', 'expired', 'failed'].includes(s),
          120_000,
        );
        let accountId = v.eligible_accounts[0]?.account_id;
        const linked = links.get(linkToken) ?? null;
        let paymentLinks: CompletedLink[] = [];
        if (v.status === 'awaiting_payment_account' && !accountId) {
          // No linked account can move money: the user links one through the payment Link.
          const paid = await linkPaymentAccount(stack, linkToken);
          paymentLinks = paid.links;
          accountId = paid.accountId ?? undefined;
        }
        if (v.status === 'awaiting_payment_account' && accountId) {
          const res = await stack.api('POST', `/link/sessions/${linkToken}/payment-account`, {
            account_id: accountId,
          });
          expect(res.status, JSON.stringify(res.body)).toBe(200);
        }
        const result = await settledView(handle);
        return paymentLinks.length > 0
          ? { linkToken, link: linked, links: [...(linked ? [linked] : []), ...paymentLinks], result }
          : { linkToken, link: linked, result };
      });

      // Every webhook was eventually accepted, after at least one refusal for each session.
      await stack.emulatorServer.emulator.idle(2_000);
      const state = await stack.emulatorState();
      const mine = state.webhooks.filter((w) => linkTokens.has(w.link_token));
      const { summary, violations } = await auditSessions(sessions, { state, store: stack.store });
      console.log(
        JSON.stringify({
          chaos: 'temporal-restart',
          seed,
          duration_ms: Date.now() - started,
          temporal_down_ms: downForMs,
          webhooks: mine.length,
          webhooks_refused_while_down: mine.filter((w) => w.attempts > 1).length,
          refusal_statuses: statuses,
          max_attempts: Math.max(...mine.map((w) => w.attempts)),
          ...summary,
        }),
      );
      expect(violations).toEqual([]);
      expect(mine.every((w) => w.delivered)).toBe(true);
      for (const token of linkTokens) {
        expect(mine.some((w) => w.link_token === token && w.attempts > 1 && w.delivered)).toBe(true);
      }
      for (const s of sessions) expect(s.result.status).toBe('completed');
      expect(summary.exchanged).toBe(summary.tokens_produced);
    },
    SOAK ? 900_000 : 300_000,
  );
});
