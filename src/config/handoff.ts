/**
 * The hand-off configuration (issue 14) from the validated environment: the secrets key and
 * outbound events. Events need both LINKFLOW_EVENTS_URL and LINKFLOW_EVENTS_SECRET; one without
 * the other is a configuration error rather than events silently off.
 */
import type { OutboundEventsConfig } from '../activities/events';
import { ConfigError, type Env } from './env';

export function outboundEventsFromEnv(env: Env): OutboundEventsConfig | null {
  const url = env.LINKFLOW_EVENTS_URL;
  const secret = env.LINKFLOW_EVENTS_SECRET;
  if (!url && !secret) return null;
  if (!url || !secret) {
    const missing = url ? 'LINKFLOW_EVENTS_SECRET' : 'LINKFLOW_EVENTS_URL';
    throw new ConfigError(
      `Invalid configuration:\n  ${missing}: required with ${url ? 'LINKFLOW_EVENTS_URL' : 'LINKFLOW_EVENTS_SECRET'} (outbound events need both)`,
    );
  }
  return {
    url,
    secret,
    retry: {
      initialIntervalMs: env.LINKFLOW_EVENTS_RETRY_INITIAL,
      maximumIntervalMs: env.LINKFLOW_EVENTS_RETRY_MAX_INTERVAL,
      giveUpAfterMs: env.LINKFLOW_EVENTS_GIVE_UP_AFTER,
    },
  };
}

/** LINKFLOW_SECRETS_API_KEY, refused when it equals the ordinary API key (the scopes must differ). */
export function secretsApiKeyFromEnv(env: Env, apiKey: string): string | null {
  const key = env.LINKFLOW_SECRETS_API_KEY ?? null;
  if (key && key === apiKey) {
    throw new ConfigError(
      'Invalid configuration:\n  LINKFLOW_SECRETS_API_KEY: must differ from LINKFLOW_API_KEY (secret reads have their own key)',
    );
  }
  return key;
}
