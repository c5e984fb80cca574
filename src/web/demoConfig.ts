/** The `/demo` page's configuration from the validated environment. */

import type { DemoConfig } from '../api/deps';
import { type Env, plaidBaseUrl } from '../config/env';

/**
 * With the emulator, Link is the emulator's page, opened from the browser: `PLAID_BASE_URL` (or
 * `http://127.0.0.1:$PLAID_EMULATOR_PORT`) must therefore be an address the browser can reach.
 */
export function demoConfigFromEnv(env: Env): DemoConfig {
  return env.PLAID_ENV === 'emulator'
    ? { plaidEnv: 'emulator', emulatorUrl: plaidBaseUrl(env) }
    : { plaidEnv: env.PLAID_ENV };
}
