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

/** Where the state goes: a durable commit for acknowledged calls, a debounced save for the rest. */
export interface StatePersistence {
  commit(): Promise<void>;
  scheduleSave(): void;
}

export const IN_MEMORY: StatePersistence = { commit: async () => {}, scheduleSave: () => {} };

export class EmulatorContext {
  readonly rng: SeededRandom;
  private dirty = false;
  private afterCommitQueue: Array<() => void> = [];
  private lastCommit: Promise<void> = Promise.resolve();

  constructor(
    readonly opts: ResolvedOptions,
    readonly state: EmulatorState,
    readonly keys: SigningKeys,
    readonly webhooks: WebhookDispatcher,
    private readonly persistence: StatePersistence,
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

  /** The state changed; the next `commit()` writes it (and a debounced save does anyway). */
  changed(): void {
    this.dirty = true;
    this.persistence.scheduleSave();
  }

  /** Runs `fn` once the change being made now is durable (e.g. start sending its webhooks). */
  afterCommit(fn: () => void): void {
    this.afterCommitQueue.push(fn);
  }

  /**
   * Makes every change so far durable, then runs what waited for it. Every route calls this before
   * it answers, so an acknowledged change survives a SIGKILL right after the answer.
   */
  async commit(): Promise<void> {
    const queued = this.afterCommitQueue;
    this.afterCommitQueue = [];
    // A clean caller may still depend on a write in flight (another call started it after this
    // caller's change), so it waits for the latest write either way.
    if (this.dirty) {
      this.dirty = false;
      this.lastCommit = this.persistence.commit();
    }
    try {
      await this.lastCommit;
    } catch (err) {
      this.dirty = true;
      this.afterCommitQueue.unshift(...queued);
      throw err;
    }
    for (const fn of queued) fn();
  }

  log(msg: string, meta?: Record<string, unknown>): void {
    this.opts.log(msg, meta);
  }
}
