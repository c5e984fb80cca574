/**
 * A throwaway PostgreSQL server for the whole test run, so the store runs on both drivers (PGlite
 * and real PostgreSQL through `pg`) from one `npm test`. Uses TEST_DATABASE_URL when given; else
 * starts the machine's PostgreSQL binaries (see test/helpers/throwawayPostgres.ts). Without
 * binaries the PostgreSQL cases are left out, loudly.
 */
import { startThrowawayPostgres } from '../helpers/throwawayPostgres';

export default async function setup() {
  if (process.env.TEST_DATABASE_URL) return;
  const server = await startThrowawayPostgres({ maxConnections: 200 });
  if (!server) {
    console.warn(
      'PostgreSQL server not installed: the store suites run on PGlite only (apt-get install postgresql).',
    );
    return;
  }
  process.env.TEST_DATABASE_URL = server.url;
  console.log(`PostgreSQL for tests on ${server.url}`);
  return () => server.stop();
}
