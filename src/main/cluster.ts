/**
 * `npm run cluster`: the production topology on this machine without Docker (src/cluster):
 * PostgreSQL, the Temporal server on it, the Temporal UI server, LINKFLOW_CLUSTER_WORKERS workers,
 * LINKFLOW_CLUSTER_APIS APIs and the Plaid emulator. Prints the URLs and writes
 * `$LINKFLOW_DATA_DIR/cluster.json`; SIGTERM / Ctrl-C stop everything; a restart resumes.
 */
import { loadClusterEnv } from '../cluster/config';
import { type Cluster, createCluster } from '../cluster/index';
import { loadEnv } from '../config/env';

const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);
let cluster: Cluster | undefined;
let stopping = false;

async function shutdown(signal: string, code = 0) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping the cluster`);
  await cluster?.stop();
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(signal));

try {
  cluster = createCluster(loadEnv(), loadClusterEnv(), { log });
  const info = await cluster.start();
  process.stdout.write(`${info.banner.join('\n')}\n`);
} catch (err) {
  if (!stopping) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    await shutdown('startup-failure', 2);
  }
}
