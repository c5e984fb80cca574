/**
 * `npm run worker`: the Link session worker as a production process, configured by env.
 * Needs TEMPORAL_ADDRESS (or a profile), DATABASE_URL and the secrets; see .env.example.
 */
import { ConfigError, loadEnv } from '../config/env';
import { connectWorker } from '../temporal/connection';
import { installWorkerRuntime } from '../temporal/runtime';
import { createServicesWorker } from './linkSessionWorker';
import { openServices } from './services';

try {
  const env = loadEnv();
  if (!env.DATABASE_URL) {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_URL: required by `npm run worker` (PGlite is single-process; `npm start` runs everything embedded)',
    );
  }
  const metricsUrl = installWorkerRuntime({
    metricsPort: env.LINKFLOW_WORKER_METRICS_PORT,
    host: env.LINKFLOW_WORKER_METRICS_HOST,
  });
  const services = await openServices(env, { allowDevSecrets: false });
  const { connection, namespace } = await connectWorker({
    address: env.TEMPORAL_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE,
  });
  const worker = await createServicesWorker(services, { connection, namespace });
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      // Activities in flight (an exchange saving its access token) get SHUTDOWN_GRACE_MS to finish.
      console.log(`linkflow worker: ${signal}, stopping; activities in flight may finish first`);
      if (worker.getState() === 'RUNNING') worker.shutdown();
    });
  console.log(
    `linkflow worker: task queue ${env.TEMPORAL_TASK_QUEUE} on ${env.TEMPORAL_ADDRESS ?? 'TEMPORAL_* profile'}${metricsUrl ? `, metrics on ${metricsUrl}` : ''}`,
  );
  await worker.run();
  await connection.close();
  await services.close();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
