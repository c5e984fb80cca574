/**
 * linkflow's configuration: every variable of the contract, validated at start. A bad value names
 * the variable and what it expects instead of failing later with a stack trace.
 */
import { z } from 'zod';
import type { TimingPolicy } from '../workflows/types';
import { parseDuration } from './duration';
import { parseRateLimit } from './rateLimit';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      try {
        return parseDuration(value);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as 30s, 5m or 6h, got "${value}"`,
        });
        return z.NEVER;
      }
    });

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port(3000),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('link-sessions'),
  DATABASE_URL: z.string().min(1).optional(),
  // Connections each process keeps to PostgreSQL (ignored on PGlite). Size it so that
  // processes × pool stays under the server's max_connections (issue 16: 36–40 at peak for 4).
  LINKFLOW_DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1_000).default(10),
  LINKFLOW_DATA_DIR: z.string().min(1).default('.data'),
  PLAID_ENV: z.enum(['emulator', 'sandbox', 'production']).default('emulator'),
  PLAID_CLIENT_ID: z.string().min(1).optional(),
  PLAID_SECRET: z.string().min(1).optional(),
  PLAID_BASE_URL: z.url().optional(),
  PLAID_EMULATOR_PORT: port(4010),
  PLAID_WEBHOOK_URL: z.url().optional(),
  PLAID_VERIFY_WEBHOOKS: bool(true),
  LINKFLOW_API_KEY: z.string().min(16, 'at least 16 characters').optional(),
  LINKFLOW_ENCRYPTION_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'a base64-encoded 32-byte key')
    .optional(),
  LINKFLOW_PREVIOUS_ENCRYPTION_KEYS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .refine(
      (keys) => keys.every((k) => Buffer.from(k, 'base64').length === 32),
      'comma-separated base64 32-byte keys',
    ),
  LINKFLOW_UI_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  LINKFLOW_CODEC_TOKEN: z
    .string()
    .min(16, 'at least 16 characters')
    .regex(/^[\w.~-]+$/, 'letters, digits and - _ . ~ only (it goes in a URL path)')
    .optional(),
  // Trust boundaries (issue 17): /metrics, session creation and the HTTP server's limits.
  LINKFLOW_METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  LINKFLOW_SESSION_RATE_LIMIT: z
    .string()
    .default('120/1m')
    .transform((value, ctx) => {
      try {
        return parseRateLimit(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  LINKFLOW_HTTP_REQUEST_TIMEOUT: duration('30s'),
  LINKFLOW_HTTP_HEADERS_TIMEOUT: duration('10s'),
  LINKFLOW_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1024),
  LINKFLOW_WORKER_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  // Loopback by default: the exporter has no auth. Compose sets 0.0.0.0 inside its network.
  LINKFLOW_WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // Plaid calls as a budget: the task queue's activity rate, enforced by the Temporal server across
  // all workers of the queue (each activity makes at most one or two Plaid calls). Unset: no limit.
  // See README "Production topology here" for the value against Plaid's per-client limits.
  LINKFLOW_WORKER_ACTIVITIES_PER_SECOND: z.coerce.number().positive().optional(),
  // Open sessions idle for hours (waiting for webhooks or for the user's payment choice); past
  // this many, the least recently used is evicted and replayed (~11 ms) on its next event. 500
  // keeps a worker with 1,000 open sessions near 420 MB (issue 9). `auto`: the SDK's size, from the heap limit.
  LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: z
    .union([z.literal('auto'), z.coerce.number().int().min(0).max(100_000)])
    .default(500)
    .transform((v) => (v === 'auto' ? undefined : v)),
  PLAID_EMULATOR_USER_API: z.enum(['new', 'legacy']).default('new'),
  // Issue 14: secret reads and outbound events (see src/config/handoff.ts).
  LINKFLOW_SECRETS_API_KEY: z.string().min(16, 'at least 16 characters').optional(),
  LINKFLOW_EVENTS_URL: z.url().optional(),
  LINKFLOW_EVENTS_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'a Standard Webhooks secret: whsec_ followed by base64')
    .refine((v) => Buffer.from(v.slice(6), 'base64').length >= 24, 'at least 24 random bytes after whsec_')
    .optional(),
  LINKFLOW_EVENTS_RETRY_INITIAL: duration('5s'),
  LINKFLOW_EVENTS_RETRY_MAX_INTERVAL: duration('1h'),
  LINKFLOW_EVENTS_GIVE_UP_AFTER: duration('72h'),
  LINKFLOW_POLL_AFTER: duration('5m'),
  LINKFLOW_POLL_EVERY: duration('1m'),
  LINKFLOW_RESULTS_WINDOW: duration('6h'),
  LINKFLOW_SELECTION_TIMEOUT: duration('24h'),
  // Issue 15: a public token whose Item the client user already has (same institution_id, an
  // account with the same name and mask) is not exchanged (`skip`) or exchanged and flagged (`keep`).
  LINKFLOW_DUPLICATE_ITEMS: z
    .enum(['skip', 'keep'], { error: (issue) => `expected skip or keep, got "${String(issue.input)}"` })
    .default('skip'),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError listing each bad variable and what it expects. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings mean "unset", as in a .env file with `NAME=`.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export function timingPolicy(env: Env): TimingPolicy {
  return {
    pollAfterMs: env.LINKFLOW_POLL_AFTER,
    pollEveryMs: env.LINKFLOW_POLL_EVERY,
    resultsWindowMs: env.LINKFLOW_RESULTS_WINDOW,
    selectionTimeoutMs: env.LINKFLOW_SELECTION_TIMEOUT,
  };
}

export function plaidBaseUrl(env: Env): string {
  if (env.PLAID_BASE_URL) return env.PLAID_BASE_URL;
  if (env.PLAID_ENV === 'sandbox') return 'https://sandbox.plaid.com';
  if (env.PLAID_ENV === 'production') return 'https://production.plaid.com';
  return `http://127.0.0.1:${env.PLAID_EMULATOR_PORT}`;
}
