/**
 * pino, configured once for every linkflow process: JSON lines, and redaction of anything that
 * grants access (bearer tokens, Plaid tokens and secrets, webhook signatures) wherever a log call
 * puts it, at any depth up to `MAX_DEPTH`, in log objects and in child-logger bindings alike.
 *
 * Why not pino's `redact` option: its path matching (fast-redact) costs ~60 µs per line with the
 * wildcard paths this needs, which was 14% of the API's main thread under webhook load (issue 9).
 * One pass over the keys, copying only the objects that hold a secret, costs a few µs.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values are never written, compared case-insensitively. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'access_token',
  'public_token',
  'public_tokens',
  'processor_token',
  'user_token',
  'secret',
  'authorization',
  'plaid-verification',
  'plaid-secret',
  'api_key',
  'apikey',
]);

export const REDACTED = '[redacted]';

/** Deeper than any shape linkflow logs; below it values are written as they are. */
const MAX_DEPTH = 6;

const isPlainContainer = (value: unknown): value is Record<string, unknown> | unknown[] =>
  typeof value === 'object' &&
  value !== null &&
  (Array.isArray(value) ||
    Object.getPrototypeOf(value) === Object.prototype ||
    Object.getPrototypeOf(value) === null);

/**
 * Returns `value` with every secret key's value replaced by `REDACTED`. The input is never
 * mutated: a container is copied only when something inside it changed, so the common case
 * (nothing secret) allocates nothing.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (depth > MAX_DEPTH || !isPlainContainer(value)) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = redactSecrets(value[i], depth + 1);
      if (next !== value[i]) {
        copy ??= value.slice();
        copy[i] = next;
      }
    }
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const current = (value as Record<string, unknown>)[key];
    const next = SECRET_KEYS.has(key.toLowerCase())
      ? current === undefined
        ? current
        : REDACTED
      : redactSecrets(current, depth + 1);
    if (next !== current) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = next;
    }
  }
  return (copy ?? value) as T;
}

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
    formatters: { log: (object) => redactSecrets(object) },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const logger = opts.destination ? pino(options, opts.destination) : pino(options);
  // `formatters.log` never sees `child()` bindings (and pino's `formatters.bindings` reaches only
  // the root's own base): redact them here. Children inherit this override through their
  // prototype, so grandchildren are covered too.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as Logger['child'];
  return logger;
}
