/**
 * `npm run emulator`: the Plaid emulator alone.
 *
 *   PLAID_EMULATOR_PORT (4010), PLAID_EMULATOR_HOST (127.0.0.1), PLAID_EMULATOR_USER_API (new|legacy),
 *   PLAID_EMULATOR_WEBHOOK_RETRY_MS (comma list of ms), PLAID_EMULATOR_SEED;
 *   --state-file <path>, or LINKFLOW_DATA_DIR (state in <dir>/emulator-state.json).
 */
import { join } from 'node:path';
import pino from 'pino';
import { startEmulator } from '../emulator/index';

function stateFileFromArgs(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--state-file') {
      const value = argv[i + 1];
      if (!value) throw new Error('--state-file needs a path');
      return value;
    }
    if (arg.startsWith('--state-file=')) return arg.slice('--state-file='.length);
  }
  return undefined;
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const logger = pino({ name: 'plaid-emulator' });
  const dataDir = process.env.LINKFLOW_DATA_DIR;
  const stateFile =
    stateFileFromArgs(process.argv.slice(2)) ?? (dataDir ? join(dataDir, 'emulator-state.json') : undefined);
  const seed = process.env.PLAID_EMULATOR_SEED ? intFromEnv('PLAID_EMULATOR_SEED', 0) : undefined;

  const started = await startEmulator({
    port: intFromEnv('PLAID_EMULATOR_PORT', 4010),
    host: process.env.PLAID_EMULATOR_HOST || '127.0.0.1',
    stateFile,
    seed,
    log: (msg, meta) => logger.info(meta ?? {}, msg),
  });
  logger.info({ url: started.url, stateFile: stateFile ?? null }, 'Plaid emulator listening');
  process.stdout.write(
    `Plaid emulator: ${started.url}  (Link page: ${started.url}/__emulator/link?link_token=…)\n`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'Plaid emulator stopping');
    await started.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`plaid emulator failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
