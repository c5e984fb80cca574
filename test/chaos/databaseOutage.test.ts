/**
 * The item store's PostgreSQL becomes unreachable for a few seconds. A TCP proxy sits between the
 * store's `pg` pool and the throwaway PostgreSQL server; cutting it resets every open connection
 * and every new one, as when the database host drops off the network.
 *
 *  1. Cut while exchanges are due: the exchange activity fails before it calls Plaid (the look-up
 *     or the intent row cannot be written), Temporal retries it with backoff, and once the proxy
 *     is restored every token is exchanged once and stored.
 *  2. Cut at the worst moment, right after Plaid answered an exchange: the access token exists
 *     only in the activity's memory; the activity retries the write in-process and succeeds
 *     when the database is back, without Temporal retrying it (a retry would re-exchange a spent
 *     token and lose the Item).
 *
 * Every exchanged Item's access token is read back from the store (through a direct connection)
 * and decrypts.
 */
import type { PlaidApi } from 'plaid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import type { LinkSessionActivities } from '../../src/workflows/activityTypes';
import {
  type CompletedLink,
  createPostgresSchema,
  isSoak,
  type LinkflowStack,
  mapLimit,
  settledView,
  startLinkflowStack,
  startTcpProxy,
  type TcpProxy,
  viaPort,
  waitFor,
} from '../helpers/linkflowStack';
import { linkSessionBundle } from '../helpers/temporal';
import { type AuditedSession, auditSessions } from './audit';

const SOAK = isSoak();
const SESSIONS = SOAK ? 40 : 6;
const OUTAGE_MS = 4_000;
const databaseUrl = process.env.TEST_DATABASE_URL;

let stack: LinkflowStack;
let pg: Awaited<ReturnType<typeof createPostgresSchema>>;
let proxy: TcpProxy;
let directDb: Db;
let directStore: ItemStore;

/** Exchange activity outcomes, by public token. */
const attempts = new Map<string, { calls: number; errors: string[] }>();
/** When set, the next successful exchange answer cuts the database before the activity sees it. */
let cutAfterNextExchange: ((publicToken: string) => void) | null = null;

function cutAfterExchange(plaid: PlaidApi): PlaidApi {
  return new Proxy(plaid, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'itemPublicTokenExchange' || typeof value !== 'function') return value;
      return async (req: { public_token: string }, ...rest: unknown[]) => {
        const res = await value.call(target, req, ...rest);
        const hook = cutAfterNextExchange;
        if (hook) {
          cutAfterNextExchange = null;
          hook(req.public_token);
        }
        return res;
      };
    },
  });
}

function countAttempts(activities: LinkSessionActivities): LinkSessionActivities {
  return {
    ...activities,
    async exchangePublicToken(input) {
      const entry = attempts.get(input.publicToken) ?? { calls: 0, errors: [] };
      attempts.set(input.publicToken, entry);
      entry.calls++;
      try {
        return await activities.exchangePublicToken(input);
      } catch (err) {
        entry.errors.push((err as Error).message);
        throw err;
      }
    },
  };
}

beforeAll(async () => {
  if (!databaseUrl) return;
  pg = await createPostgresSchema(databaseUrl);
  const target = new URL(databaseUrl);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    databaseUrl: viaPort(pg.url, proxy.port),
    bundle: await linkSessionBundle(),
    wrapPlaid: cutAfterExchange,
    wrapActivities: countAttempts,
  });
  // Assertions read the store directly, not through the proxy.
  directDb = await openDatabase({ databaseUrl: pg.url, migrate: false });
  directStore = createItemStore(directDb, stack.keyring);
});

afterAll(async () => {
  await stack?.close();
  await directDb?.close();
  await proxy?.close();
  await pg?.dispose();
});

async function linkAll(count: number, prefix: string) {
  return mapLimit(Array.from({ length: count }), 10, async (_, i) => {
    const s = await stack.createSession({ clientUserId: `${prefix}-${i}` });
    return s;
  });
}

describe.skipIf(!databaseUrl)('chaos: the database is unreachable for a while', () => {
  const all: AuditedSession[] = [];

  it(`cut while ${SESSIONS} sessions' exchanges are due: the activities retry and every Item is stored`, async () => {
    const started = Date.now();
    const created = await linkAll(SESSIONS, 'outage');
    const stats0 = { ...proxy.stats };
    proxy.cut();
    const cutAt = Date.now();
    // The outage's length is the fault being injected, not a wait for anything.
    const restored = new Promise<void>((resolve) =>
      setTimeout(() => {
        proxy.restore();
        resolve();
      }, OUTAGE_MS),
    );
    const links = new Map<string, CompletedLink>();
    for (const { linkToken } of created) {
      links.set(
        linkToken,
        await stack.completeLink(linkToken, {
          institutions: ['ins_109508', 'ins_109509', 'ins_linkflow_zero_balance'],
        }),
      );
    }
    // The exchanges really ran into the outage before it ended.
    const firstFailureAfterMs = await waitFor(
      'an exchange activity to fail on the unreachable database',
      () => [...attempts.values()].some((a) => a.errors.length > 0) && Date.now() - cutAt,
      { timeoutMs: OUTAGE_MS, intervalMs: 50 },
    );
    await restored;
    const sessions = await mapLimit(created, 10, async ({ linkToken, handle }) => ({
      linkToken,
      link: links.get(linkToken) ?? null,
      result: await settledView(handle),
    }));
    all.push(...sessions);
    const state = await stack.emulatorState();
    const { summary, violations } = await auditSessions(sessions, { state, store: directStore });
    const tokens = [...links.values()].flatMap((l) => l.public_tokens);
    const failedAttempts = tokens.reduce((n, t) => n + (attempts.get(t)?.errors.length ?? 0), 0);
    console.log(
      JSON.stringify({
        chaos: 'database-outage',
        duration_ms: Date.now() - started,
        outage_ms: OUTAGE_MS,
        first_store_failure_after_ms: firstFailureAfterMs,
        connections_severed: proxy.stats.severed - stats0.severed,
        connections_refused: proxy.stats.refused - stats0.refused,
        exchange_attempts_failed_on_store: failedAttempts,
        ...summary,
      }),
    );
    expect(violations).toEqual([]);
    expect(failedAttempts).toBeGreaterThan(0);
    expect(summary.exchanged).toBe(summary.tokens_produced);
    for (const s of sessions) expect(s.result.status).toBe('completed');
    for (const t of tokens) expect(state.exchanges[t]).toBe(1);
  });

  it('cut right after Plaid answered an exchange: the access token is saved once the database is back', async () => {
    const [{ linkToken, handle }] = (await linkAll(1, 'window')) as [
      Awaited<ReturnType<typeof linkAll>>[number],
    ];
    let spent: string | null = null;
    let restoredAt = 0;
    cutAfterNextExchange = (publicToken) => {
      spent = publicToken;
      proxy.cut();
      setTimeout(() => {
        restoredAt = Date.now();
        proxy.restore();
      }, 3_000);
    };
    const cutStarted = Date.now();
    const link = await stack.completeLink(linkToken, { institutions: ['ins_109509'] });
    const result = await settledView(handle);
    all.push({ linkToken, link, result });
    const state = await stack.emulatorState();
    expect(spent).toBe(link.public_tokens[0]);
    const token = spent as unknown as string;
    expect(restoredAt).toBeGreaterThan(cutStarted);
    expect(result.status).toBe('completed');
    expect(result.items.map((i) => i.status)).toEqual(['exchanged']);
    expect(state.exchanges[token]).toBe(1);
    // One activity attempt: the write was retried inside it, Temporal never re-ran the exchange.
    expect(attempts.get(token)).toEqual({ calls: 1, errors: [] });
    const itemId = link.items[0]?.item_id as string;
    expect(await directStore.getAccessToken(itemId)).toMatch(/^access-sandbox-/);
    console.log(
      JSON.stringify({
        chaos: 'database-outage-after-exchange',
        outage_ms: 3_000,
        exchange_activity_attempts: attempts.get(token)?.calls,
        stored: true,
      }),
    );
  });

  it('the store, Plaid and the views agree over both outages', async () => {
    const { summary, violations } = await auditSessions(all, {
      state: await stack.emulatorState(),
      store: directStore,
    });
    expect(violations).toEqual([]);
    expect(summary.silent_losses + summary.explained_losses).toBe(0);
  });
});
