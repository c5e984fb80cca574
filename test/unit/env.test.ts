/** Configuration from the environment: defaults, and a bad value names its variable. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../src/config/env';

describe('LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS', () => {
  it('bounds the sticky cache at 500 by default; `auto` leaves it to the SDK; 0 disables it', () => {
    expect(loadEnv({}).LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS).toBe(500);
    expect(loadEnv({ LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: '' }).LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS).toBe(
      500,
    );
    expect(
      loadEnv({ LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: 'auto' }).LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS,
    ).toBe(undefined);
    expect(loadEnv({ LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: '0' }).LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS).toBe(
      0,
    );
  });

  it('refuses anything else, naming the variable', () => {
    for (const bad of ['-1', 'lots', '1.5']) {
      expect(() => loadEnv({ LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: bad })).toThrow(ConfigError);
      expect(() => loadEnv({ LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS: bad })).toThrow(
        /LINKFLOW_WORKER_MAX_CACHED_WORKFLOWS/,
      );
    }
  });
});

describe('trust-boundary settings (issue 17)', () => {
  it('limits session creation to 120 a minute per caller by default; `off` or n/duration otherwise', () => {
    expect(loadEnv({}).LINKFLOW_SESSION_RATE_LIMIT).toEqual({ limit: 120, windowMs: 60_000 });
    expect(loadEnv({ LINKFLOW_SESSION_RATE_LIMIT: '10/30s' }).LINKFLOW_SESSION_RATE_LIMIT).toEqual({
      limit: 10,
      windowMs: 30_000,
    });
    expect(loadEnv({ LINKFLOW_SESSION_RATE_LIMIT: 'off' }).LINKFLOW_SESSION_RATE_LIMIT).toBeNull();
    for (const bad of ['many', '0/1m', '10/forever', '10']) {
      expect(() => loadEnv({ LINKFLOW_SESSION_RATE_LIMIT: bad })).toThrow(/LINKFLOW_SESSION_RATE_LIMIT/);
    }
  });

  it('bounds HTTP requests (30 s whole, 10 s headers, 1024 connections) and leaves /metrics anonymous by default', () => {
    const env = loadEnv({});
    expect([env.LINKFLOW_HTTP_REQUEST_TIMEOUT, env.LINKFLOW_HTTP_HEADERS_TIMEOUT]).toEqual([30_000, 10_000]);
    expect(env.LINKFLOW_HTTP_MAX_CONNECTIONS).toBe(1024);
    expect(env.LINKFLOW_METRICS_TOKEN).toBeUndefined();
    expect(() => loadEnv({ LINKFLOW_METRICS_TOKEN: 'short' })).toThrow(/LINKFLOW_METRICS_TOKEN/);
    expect(() => loadEnv({ LINKFLOW_CODEC_TOKEN: 'has/a/slash-0123456789' })).toThrow(/LINKFLOW_CODEC_TOKEN/);
  });
});

describe('hand-off variables (issue 14)', () => {
  it('events need both URL and a whsec_ secret; retries default to 5s doubling to 1h for 72h', async () => {
    const { outboundEventsFromEnv, secretsApiKeyFromEnv } = await import('../../src/config/handoff');
    expect(outboundEventsFromEnv(loadEnv({}))).toBeNull();
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect(
      outboundEventsFromEnv(
        loadEnv({ LINKFLOW_EVENTS_URL: 'https://example.test/hooks', LINKFLOW_EVENTS_SECRET: secret }),
      ),
    ).toEqual({
      url: 'https://example.test/hooks',
      secret,
      retry: { initialIntervalMs: 5_000, maximumIntervalMs: 3_600_000, giveUpAfterMs: 72 * 3_600_000 },
    });
    expect(() =>
      outboundEventsFromEnv(loadEnv({ LINKFLOW_EVENTS_URL: 'https://example.test/hooks' })),
    ).toThrow(/LINKFLOW_EVENTS_SECRET/);
    expect(() => outboundEventsFromEnv(loadEnv({ LINKFLOW_EVENTS_SECRET: secret }))).toThrow(
      /LINKFLOW_EVENTS_URL/,
    );
    expect(() => loadEnv({ LINKFLOW_EVENTS_SECRET: 'not-a-secret' })).toThrow(/LINKFLOW_EVENTS_SECRET/);
    expect(() => loadEnv({ LINKFLOW_EVENTS_RETRY_INITIAL: 'soon' })).toThrow(/LINKFLOW_EVENTS_RETRY_INITIAL/);
    const key = 'secrets-key-0123456789';
    expect(secretsApiKeyFromEnv(loadEnv({ LINKFLOW_SECRETS_API_KEY: key }), 'api-key-0123456789abc')).toBe(
      key,
    );
    expect(secretsApiKeyFromEnv(loadEnv({}), 'api-key-0123456789abc')).toBeNull();
    expect(() => secretsApiKeyFromEnv(loadEnv({ LINKFLOW_SECRETS_API_KEY: key }), key)).toThrow(
      /must differ/,
    );
    expect(() => loadEnv({ LINKFLOW_SECRETS_API_KEY: 'short' })).toThrow(/LINKFLOW_SECRETS_API_KEY/);
  });
});

describe('LINKFLOW_DATABASE_POOL_MAX (issue 16)', () => {
  it('keeps 10 PostgreSQL connections per process by default, settable, never 0', () => {
    expect(loadEnv({}).LINKFLOW_DATABASE_POOL_MAX).toBe(10);
    expect(loadEnv({ LINKFLOW_DATABASE_POOL_MAX: '4' }).LINKFLOW_DATABASE_POOL_MAX).toBe(4);
    for (const bad of ['0', '-1', '2.5', 'many']) {
      expect(() => loadEnv({ LINKFLOW_DATABASE_POOL_MAX: bad })).toThrow(/LINKFLOW_DATABASE_POOL_MAX/);
    }
  });
});

describe('LINKFLOW_DUPLICATE_ITEMS (issue 15)', () => {
  it('skips duplicate Items by default; keep exchanges them', () => {
    expect(loadEnv({}).LINKFLOW_DUPLICATE_ITEMS).toBe('skip');
    expect(loadEnv({ LINKFLOW_DUPLICATE_ITEMS: '' }).LINKFLOW_DUPLICATE_ITEMS).toBe('skip');
    expect(loadEnv({ LINKFLOW_DUPLICATE_ITEMS: 'keep' }).LINKFLOW_DUPLICATE_ITEMS).toBe('keep');
    expect(loadEnv({ LINKFLOW_DUPLICATE_ITEMS: 'skip' }).LINKFLOW_DUPLICATE_ITEMS).toBe('skip');
  });

  it('refuses anything else, naming the variable and the values it takes', () => {
    for (const bad of ['SKIP', 'drop', 'true', 'keep ']) {
      expect(() => loadEnv({ LINKFLOW_DUPLICATE_ITEMS: bad })).toThrow(ConfigError);
      expect(() => loadEnv({ LINKFLOW_DUPLICATE_ITEMS: bad })).toThrow(
        /LINKFLOW_DUPLICATE_ITEMS: expected skip or keep, got "/,
      );
    }
  });
});
