/**
 * pino, configured once for every linkflow process: JSON lines, and redaction of anything that
 * grants access (bearer tokens, Plaid tokens and secrets, webhook signatures) wherever a log call
 * puts it, up to three levels deep.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'access_token',
  'public_token',
  'public_tokens',
  'processor_token',
  'user_token',
  'secret',
  'authorization',
  '["plaid-verification"]',
  '["plaid-secret"]',
  'api_key',
  'apiKey',
];

function pathsFor(key: string): string[] {
  const join = (prefix: string) => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
  const top = key.startsWith('[') ? key.slice(2, -2) : key;
  return [top, join('*'), join('*.*'), join('*.*.*')];
}

/** The redaction paths (fast-redact syntax), exported so tests and other processes agree. */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap(pathsFor);

export const REDACTED = '[redacted]';

export interface CreateLoggerOptions {
  level?: LoggerOptions['level'];
  name?: string;
  /** Where lines go; stdout when omitted. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    ...(opts.name && { name: opts.name }),
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
