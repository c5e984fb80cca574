/**
 * The throwaway PostgreSQL the worker-memory phase runs `npm run worker` on (the same helper as
 * the test run's), tracked so an interrupted benchmark still stops it.
 */
import { startThrowawayPostgres, type ThrowawayPostgres } from '../test/helpers/throwawayPostgres';

export type { ThrowawayPostgres };

/** Servers not stopped yet, so the benchmark can stop them if it is interrupted. */
export const runningPostgres = new Set<ThrowawayPostgres>();

export async function startPostgres(): Promise<ThrowawayPostgres | null> {
  const server = await startThrowawayPostgres({ prefix: 'linkflow-bench-pg-' });
  if (!server) return null;
  const tracked: ThrowawayPostgres = {
    url: server.url,
    stop: async () => {
      runningPostgres.delete(tracked);
      await server.stop();
    },
    killNow: () => server.killNow(),
  };
  runningPostgres.add(tracked);
  return tracked;
}
