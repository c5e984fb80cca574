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
