/**
 * The Link session worker as its own process, composed exactly like `src/main/worker.ts`
 * (`openServices` from the environment, the real activities, `createLinkSessionWorker`), plus one
 * JSON status line on stdout every 250 ms so the benchmark knows how many workflows it caches.
 * Started by bench/rss.ts with `node --import tsx bench/worker.ts`; stops on SIGTERM/SIGINT.
 *
 * Bench-only knobs, to measure proposed changes before anyone makes them:
 * - BENCH_WORKFLOW_BUNDLE: a workflow bundle built beforehand (this process never loads webpack);
 * - BENCH_NO_PGLITE=1: the services `openServices` builds, composed without importing the PGlite
 *   driver (what a lazy `import('./pglite')` in src/store/open.ts would give); needs DATABASE_URL.
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { PlaidApi } from 'plaid';
import { createActivities } from '../src/activities';
import { loadEnv } from '../src/config/env';
import type { ItemStore } from '../src/store';
import { connectWorker } from '../src/temporal/connection';
import { createLinkSessionWorker } from '../src/temporal/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });

interface WorkerServices {
  plaid: PlaidApi;
  store: ItemStore;
  codec: import('@temporalio/common').PayloadCodec;
  close(): Promise<void>;
}

async function servicesWithoutPglite(env: ReturnType<typeof loadEnv>): Promise<WorkerServices> {
  if (!env.DATABASE_URL || !env.LINKFLOW_ENCRYPTION_KEY)
    throw new Error('BENCH_NO_PGLITE needs DATABASE_URL');
  const { PostgresDb } = await import('../src/store/postgres');
  const { migrate } = await import('../src/store/migrate');
  const { createItemStore } = await import('../src/store/itemStore');
  const { createKeyring } = await import('../src/crypto/keyring');
  const { createEncryptionCodec } = await import('../src/temporal/codec');
  const { createPlaidClient } = await import('../src/plaid/client');
  const { plaidBaseUrl } = await import('../src/config/env');
  const db = new PostgresDb(env.DATABASE_URL, {});
  await migrate(db);
  const keyring = createKeyring(env.LINKFLOW_ENCRYPTION_KEY, env.LINKFLOW_PREVIOUS_ENCRYPTION_KEYS);
  return {
    plaid: createPlaidClient({
      basePath: plaidBaseUrl(env),
      clientId: env.PLAID_CLIENT_ID ?? 'linkflow-dev',
      secret: env.PLAID_SECRET ?? 'linkflow-dev-secret',
    }),
    store: createItemStore(db, keyring),
    codec: createEncryptionCodec(keyring),
    close: () => db.close(),
  };
}

const env = loadEnv();
const services: WorkerServices =
  process.env.BENCH_NO_PGLITE === '1'
    ? await servicesWithoutPglite(env)
    : await (await import('../src/main/services')).openServices(env, { allowDevSecrets: false });
const { connection, namespace } = await connectWorker({
  address: env.TEMPORAL_ADDRESS,
  namespace: env.TEMPORAL_NAMESPACE,
});
const worker = await createLinkSessionWorker({
  connection,
  namespace,
  taskQueue: env.TEMPORAL_TASK_QUEUE,
  activities: createActivities({ plaid: services.plaid, store: services.store }),
  codec: services.codec,
  ...(process.env.BENCH_WORKFLOW_BUNDLE && {
    workflowBundle: { code: readFileSync(process.env.BENCH_WORKFLOW_BUNDLE, 'utf8') },
  }),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  });

const parent = process.ppid;
const report = setInterval(() => {
  // The benchmark died without stopping us: stop too, rather than linger.
  if (process.ppid !== parent && worker.getState() === 'RUNNING') worker.shutdown();
  const s = worker.getStatus();
  const mem = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({
      state: worker.getState(),
      cached: s.numCachedWorkflows,
      activations: s.numInFlightWorkflowActivations,
      activities: s.numInFlightActivities,
      rss: mem.rss,
      heap_used: mem.heapUsed,
      external: mem.external,
    })}\n`,
  );
}, 250);

try {
  await worker.run();
} finally {
  clearInterval(report);
  await connection.close();
  await services.close();
}
