/**
 * `npm start`: the whole service on one machine, embedded: the Temporal dev server with its UI
 * (SQLite under the data dir, search attributes registered, the UI decoding payloads through the
 * API's codec routes), the Plaid emulator (unless PLAID_ENV is sandbox/production), PGlite (unless
 * DATABASE_URL), the worker and the API. Ctrl-C / SIGTERM stop everything in order; a restart
 * resumes open sessions from the data dir. The parts are composed in `./stack.ts`.
 */
import { ConfigError, loadEnv } from '../config/env';
import { createLogger } from '../observability/logger';
import { createStack, type EmbeddedStack, StartupError } from './stack';

const logger = createLogger({ name: 'linkflow' });
let stack: EmbeddedStack | undefined;

async function main() {
  const env = loadEnv();
  stack = createStack(env, { logger });
  const info = await stack.start();
  process.stdout.write(`${info.banner.join('\n')}\n`);
}

let stopping = false;
async function shutdown(signal: string, code = 0) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping linkflow');
  await stack?.stop();
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(signal));

main().catch(async (err) => {
  if (err instanceof ConfigError || err instanceof StartupError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    logger.error({ err }, 'linkflow failed to start');
  }
  await shutdown('startup-failure', 2);
});
