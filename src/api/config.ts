/** The API's configuration from the validated environment (see src/config/env.ts). */
import { type Env, timingPolicy } from '../config/env';
import type { ApiConfig } from './deps';

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
}

export function apiConfigFromEnv(env: Env, extras: ApiConfigExtras): ApiConfig {
  return {
    apiKey: extras.apiKey,
    codecToken: extras.codecToken ?? null,
    webhookUrl: env.PLAID_WEBHOOK_URL ?? `http://${urlHost(env.HOST)}:${env.PORT}/webhooks/plaid`,
    verifyWebhooks: env.PLAID_VERIFY_WEBHOOKS,
    uiOrigins: extras.uiOrigins && extras.uiOrigins.length > 0 ? extras.uiOrigins : DEFAULT_UI_ORIGINS,
    // Origin is only a browser's word: trust it alone only when the API and Temporal are both on
    // this machine's loopback (the embedded default, or `npm run cluster`).
    allowUiOriginWithoutKey:
      isLoopbackHost(env.HOST) &&
      (!env.TEMPORAL_ADDRESS || isLoopbackHost(env.TEMPORAL_ADDRESS.replace(/:\d+$/, ''))),
    timing: timingPolicy(env),
  };
}
