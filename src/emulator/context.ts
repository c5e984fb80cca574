/**
 * What every route works with: the state, the emulator clock, the seeded generator, signing keys,
 * the webhook dispatcher and a hook to persist changes.
 */
import { SeededRandom } from './ids';
import type { SigningKeys } from './keys';
import type { ResolvedOptions } from './options';
import type { EmulatorState } from './state';
import type { WebhookDispatcher } from './webhooks';

export const LINK_TOKEN_LIFETIME_MS = 4 * 3_600_000;
export const PUBLIC_TOKEN_LIFETIME_MS = 30 * 60_000;
/** How long `/link/token/get` keeps listing a session after it finished. */
export const SESSION_RETENTION_MS = 6 * 3_600_000;

export class EmulatorContext {
  readonly rng: SeededRandom;

  constructor(
    readonly opts: ResolvedOptions,
    readonly state: EmulatorState,
    readonly keys: SigningKeys,
    readonly webhooks: WebhookDispatcher,
    private readonly persist: () => void,
  ) {
    // The generator mutates state.rng in place, so its position is persisted with everything else.
    this.rng = new SeededRandom(state.rng);
  }

  /** The emulator clock: the base clock plus whatever `/__emulator/clock` advanced. */
  now(): number {
    return this.opts.now() + this.state.clock_offset_ms;
  }

  iso(ms: number = this.now()): string {
    return new Date(ms).toISOString();
  }

  /** Plaid's top-level timestamps (`created_at`, `expiration`) carry whole seconds. */
  isoSeconds(ms: number = this.now()): string {
    return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  }

  changed(): void {
    this.persist();
  }

  log(msg: string, meta?: Record<string, unknown>): void {
    this.opts.log(msg, meta);
  }
}
