/**
 * Emulator options, and how the environment fills in the ones not given in code.
 */
import type { UserApi } from './state';
import { DEFAULT_RETRY_DELAYS_MS } from './webhooks';

export type EmulatorLog = (msg: string, meta?: Record<string, unknown>) => void;

export interface EmulatorOptions {
  /** Seeds ids, account ids and webhook fault randomness. Random when omitted. */
  seed?: number;
  /** Base clock (epoch ms); `/__emulator/clock` advances on top of it. Webhook `iat` ignores it. */
  now?: () => number;
  /**
   * Waits between webhook attempts; attempts = 1 + length. Default: Plaid's schedule (30 s × 4ⁿ within
   * 24 h, see PLAID_RETRY_DELAYS_MS). Env: PLAID_EMULATOR_WEBHOOK_RETRY_MS.
   */
  webhookRetryDelaysMs?: number[];
  /** How long a webhook receiver may take to answer before the attempt counts as failed. */
  webhookTimeoutMs?: number;
  /** `/user/create` flavour. Env: PLAID_EMULATOR_USER_API. Default 'new'. */
  userApi?: UserApi;
  /** Client ids that get the legacy user API whatever `userApi` says. */
  legacyClientIds?: string[];
  /**
   * When set, only these client_id → secret pairs are valid (others get INVALID_API_KEYS). When
   * omitted any non-empty pair is accepted. Env: PLAID_EMULATOR_CLIENT_CREDENTIALS ("id:secret,…").
   */
  clientCredentials?: Record<string, string>;
  /** Persist the whole state to this JSON file and load it at start. */
  stateFile?: string;
  log?: EmulatorLog;
  /** Used for webhook deliveries. */
  fetch?: typeof fetch;
}

export interface ResolvedOptions {
  seed: number;
  now: () => number;
  retryDelaysMs: number[];
  timeoutMs: number;
  userApi: UserApi;
  legacyClientIds: ReadonlySet<string>;
  clientCredentials: Readonly<Record<string, string>> | null;
  stateFile: string | null;
  log: EmulatorLog;
  fetch: typeof fetch;
}

export function parseRetryDelays(text: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const delays = parts.map(Number);
  if (delays.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`PLAID_EMULATOR_WEBHOOK_RETRY_MS must be a comma list of milliseconds, got "${text}"`);
  }
  return delays;
}

export function parseClientCredentials(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const colon = part.indexOf(':');
    if (colon <= 0 || colon === part.length - 1) {
      throw new Error(
        `PLAID_EMULATOR_CLIENT_CREDENTIALS must be a comma list of client_id:secret, got "${part}"`,
      );
    }
    pairs[part.slice(0, colon)] = part.slice(colon + 1);
  }
  return pairs;
}

export function parseUserApi(text: string): UserApi {
  if (text === 'new' || text === 'legacy') return text;
  throw new Error(`PLAID_EMULATOR_USER_API must be "new" or "legacy", got "${text}"`);
}

export function resolveOptions(opts: EmulatorOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const envRetry = env.PLAID_EMULATOR_WEBHOOK_RETRY_MS;
  const envUserApi = env.PLAID_EMULATOR_USER_API;
  return {
    seed: opts.seed ?? Math.floor(Math.random() * 0x1_0000_0000),
    now: opts.now ?? Date.now,
    retryDelaysMs: [
      ...(opts.webhookRetryDelaysMs ?? (envRetry ? parseRetryDelays(envRetry) : DEFAULT_RETRY_DELAYS_MS)),
    ],
    timeoutMs: opts.webhookTimeoutMs ?? 10_000,
    userApi: opts.userApi ?? (envUserApi ? parseUserApi(envUserApi) : 'new'),
    legacyClientIds: new Set(opts.legacyClientIds ?? []),
    clientCredentials:
      opts.clientCredentials ??
      (env.PLAID_EMULATOR_CLIENT_CREDENTIALS
        ? parseClientCredentials(env.PLAID_EMULATOR_CLIENT_CREDENTIALS)
        : null),
    stateFile: opts.stateFile ?? null,
    log: opts.log ?? (() => {}),
    fetch: opts.fetch ?? globalThis.fetch,
  };
}
