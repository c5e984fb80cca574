/** The API's configuration from the validated environment (see src/config/env.ts). */
import { type Env, timingPolicy } from '../config/env';
import { secretsApiKeyFromEnv } from '../config/handoff';
import type { ApiConfig } from './deps';
import type { HttpLimits } from './server';

export const DEFAULT_UI_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export interface ApiConfigExtras {
  apiKey: string;
  /** Temporal UI origins allowed by CORS on the codec routes; the embedded UI's by default. */
  uiOrigins?: string[];
  codecToken?: string | null;
  /** Set by `npm start`'s composition (src/main/stack.ts) alone; see `ApiConfig.keylessDemo`. */
  keylessDemo?: boolean;
}

/** The HTTP server's limits for `serveApp` (`LINKFLOW_HTTP_*`). */
export function httpLimitsFromEnv(env: Env): HttpLimits {
  return {
    requestTimeoutMs: env.LINKFLOW_HTTP_REQUEST_TIMEOUT,
    headersTimeoutMs: env.LINKFLOW_HTTP_HEADERS_TIMEOUT,
    maxConnections: env.LINKFLOW_HTTP_MAX_CONNECTIONS,
  };
}

export function apiConfigFromEnv(env: Env, extras: ApiConfigExtras): ApiConfig {
  return {
    apiKey: extras.apiKey,
    secretsApiKey: secretsApiKeyFromEnv(env, extras.apiKey),
    codecToken: extras.codecToken ?? null,
    webhookUrl: env.PLAID_WEBHOOK_URL ?? `http://${urlHost(env.HOST)}:${env.PORT}/webhooks/plaid`,
    verifyWebhooks: env.PLAID_VERIFY_WEBHOOKS,
    uiOrigins: extras.uiOrigins && extras.uiOrigins.length > 0 ? extras.uiOrigins : DEFAULT_UI_ORIGINS,
    // Never from the environment: `npm run api` with Temporal from a profile looks embedded too.
    keylessDemo: extras.keylessDemo === true,
    sessionRateLimit: env.LINKFLOW_SESSION_RATE_LIMIT,
    metricsToken: env.LINKFLOW_METRICS_TOKEN ?? null,
    timing: timingPolicy(env),
  };
}
