/**
 * The Link session worker as every linkflow process runs it (`npm start` in-process, `npm run
 * worker` alone): the real activities on the shared services, configured from the environment.
 * Its own module, so the API process does not load the activities.
 */
import type { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createLinkSessionWorker } from '../temporal/worker';
import { eventActivityDeps } from './handoff';
import type { Services } from './services';

export function createServicesWorker(
  services: Services,
  target: { connection: NativeConnection; namespace: string },
) {
  const { env } = services;
  return createLinkSessionWorker({
    connection: target.connection,
    namespace: target.namespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      plaid: services.plaid,
      store: services.store,
      events: eventActivityDeps(services),
      duplicateItems: env.LINKFLOW_DUPLICATE_ITEMS,
    }),
    codec: services.codec,
    maxCachedWorkflows: env.LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS,
    maxTaskQueueActivitiesPerSecond: env.LINKFLOW_WORKER_ACTIVITIES_PER_SECOND,
  });
}
