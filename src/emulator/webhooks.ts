/**
 * Webhook delivery like Plaid's: the body is serialised with two-space indentation, signed over
 * its exact bytes (`Plaid-Verification`), POSTed as application/json, and retried on anything but
 * a 200 (or no answer within 10 seconds). Plaid's schedule by default: each wait four times the
 * one before, starting at 30 seconds, for up to 24 hours after the first attempt, never sooner than
 * the receiver's `Retry-After`. Tests shorten the schedule explicitly. Each attempt is signed
 * afresh so `iat` is always recent.
 *
 * A Link session's webhooks go out one after another, in order (optionally shuffled, delayed,
 * duplicated or dropped by the caller); retries are scheduled independently. Every change is
 * written to the state, so pending retries survive a restart.
 */
import type { SigningKeys } from './keys';
import type { EmulatorState, WebhookDeliveryRecord } from './state';

export interface DispatcherDeps {
  state: EmulatorState;
  keys: SigningKeys;
  fetch: typeof fetch;
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  log: (msg: string, meta?: Record<string, unknown>) => void;
  changed: () => void;
}

/** Plaid keeps retrying a webhook for this long after its first attempt. */
export const RETRY_WINDOW_MS = 24 * 3_600_000;

/**
 * Plaid's documented schedule: 30 s, then each wait 4 times the previous (2 m, 8 m, 32 m, 2 h 8 m,
 * 8 h 32 m); the next (34 h) would fall outside the 24 h window, so six retries.
 */
export const PLAID_RETRY_DELAYS_MS: readonly number[] = (() => {
  const delays: number[] = [];
  let elapsed = 0;
  for (let d = 30_000; elapsed + d <= RETRY_WINDOW_MS; d *= 4) {
    delays.push(d);
    elapsed += d;
  }
  return delays;
})();

export const DEFAULT_RETRY_DELAYS_MS = PLAID_RETRY_DELAYS_MS;

/** `Retry-After` as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
export const DEFAULT_IDLE_HORIZON_MS = 10_000;

export function isPending(r: WebhookDeliveryRecord): boolean {
  return !r.delivered && !r.dropped && !r.failed;
}

export class WebhookDispatcher {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; dueAt: number }>();
  private readonly inFlight = new Map<string, AbortController>();
  private readonly sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly waiters = new Set<() => void>();
  private readonly attempts = new Set<Promise<void>>();
  private sequences = 0;
  /** Bumped by cancelAll: work started under an older generation stops touching state. */
  private generation = 0;
  private stopped = false;

  constructor(private readonly deps: DispatcherDeps) {}

  /** Sends `records` (already in the state) in order, `delayMs` before each first attempt. */
  startSequence(records: WebhookDeliveryRecord[], delayMs: number): void {
    this.sequences++;
    const generation = this.generation;
    void this.runSequence(records, delayMs, generation).finally(() => {
      this.sequences--;
      this.notify();
    });
  }

  /**
   * After loading a state file: every undelivered webhook is scheduled again. A wait left over from
   * the previous run is capped by this run's schedule, so a shortened schedule takes effect.
   */
  resumePending(): void {
    for (const r of this.deps.state.webhooks) {
      if (!isPending(r)) continue;
      const remaining = Math.max(0, (r.next_attempt_at ?? 0) - Date.now());
      const cap = r.attempts === 0 ? 0 : (this.deps.retryDelaysMs[r.attempts - 1] ?? 0);
      this.schedule(r, Math.min(remaining, cap));
    }
  }

  /**
   * Resolves once nothing is in flight, no session sequence is running and no retry is due within
   * `maxWaitMs`. Event-driven: re-checked whenever a delivery starts, ends or is scheduled.
   */
  async idle(maxWaitMs: number = DEFAULT_IDLE_HORIZON_MS): Promise<void> {
    while (this.busy(maxWaitMs)) {
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  /** Stops all timers and aborts requests in flight; aborted attempts stay pending in the state. */
  cancelAll(): void {
    this.generation++;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const s of this.sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.sleeps.clear();
    for (const ac of this.inFlight.values()) ac.abort(new Error('emulator stopping'));
    this.notify();
  }

  /** Stops for good; resolves once interrupted attempts have written their outcome to the state. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelAll();
    await Promise.allSettled([...this.attempts]);
  }

  private busy(maxWaitMs: number): boolean {
    if (this.inFlight.size > 0 || this.sequences > 0) return true;
    const horizon = Date.now() + maxWaitMs;
    for (const t of this.timers.values()) if (t.dueAt <= horizon) return true;
    return false;
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  private async runSequence(records: WebhookDeliveryRecord[], delayMs: number, generation: number) {
    for (const r of records) {
      if (generation !== this.generation || this.stopped) return;
      if (!isPending(r)) continue;
      if (delayMs > 0) {
        await this.sleep(delayMs);
        if (generation !== this.generation || this.stopped) return;
      }
      await this.attempt(r, generation);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.sleeps.add(entry);
    });
  }

  private schedule(r: WebhookDeliveryRecord, delayMs: number): void {
    const dueAt = Date.now() + delayMs;
    r.next_attempt_at = dueAt;
    const generation = this.generation;
    const timer = setTimeout(() => {
      this.timers.delete(r.id);
      void this.attempt(r, generation);
    }, delayMs);
    this.timers.set(r.id, { timer, dueAt });
    this.deps.changed();
    this.notify();
  }

  private attempt(r: WebhookDeliveryRecord, generation: number): Promise<void> {
    const running = this.deliver(r, generation);
    this.attempts.add(running);
    return running.finally(() => this.attempts.delete(running));
  }

  private async deliver(r: WebhookDeliveryRecord, generation: number): Promise<void> {
    if (generation !== this.generation || this.stopped || !isPending(r)) return;
    const ac = new AbortController();
    this.inFlight.set(r.id, ac);
    r.attempts++;
    this.notify();
    r.first_attempt_at ??= Date.now();
    let status: number | null = null;
    let error: string | null = null;
    let retryAfterMs: number | null = null;
    const body = JSON.stringify(r.body, null, 2);
    const timeout = setTimeout(
      () => ac.abort(new Error(`no answer within ${this.deps.timeoutMs} ms`)),
      this.deps.timeoutMs,
    );
    try {
      const signature = await this.deps.keys.sign(body);
      // Closed while signing: do not start a request that is already cancelled.
      ac.signal.throwIfAborted();
      const res = await this.deps.fetch(r.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Plaid-Verification': signature },
        body,
        signal: ac.signal,
      });
      status = res.status;
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      // Drain the answer so the connection can be reused; its content does not matter.
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(r.id);
    }

    if (generation !== this.generation || this.stopped) {
      // Interrupted by close/reset: not a real attempt. Left pending (due now) for the next run.
      if (status === null) {
        r.attempts--;
        r.next_attempt_at = Date.now();
      } else if (status === 200) {
        r.delivered = true;
        r.delivered_at = Date.now();
        r.next_attempt_at = null;
      }
      this.deps.changed();
      this.notify();
      return;
    }

    r.last_status = status;
    r.last_error = error;
    if (status === 200) {
      r.delivered = true;
      r.delivered_at = Date.now();
      r.next_attempt_at = null;
      this.deps.log('webhook delivered', { webhook_code: r.webhook_code, url: r.url, attempts: r.attempts });
    } else {
      const scheduled = this.deps.retryDelaysMs[r.attempts - 1];
      // Never sooner than the receiver asked, never past Plaid's 24 hours from the first attempt.
      const delay = scheduled === undefined ? undefined : Math.max(scheduled, retryAfterMs ?? 0);
      const windowEnd = (r.first_attempt_at ?? Date.now()) + RETRY_WINDOW_MS;
      if (delay === undefined || Date.now() + delay > windowEnd) {
        r.failed = true;
        r.next_attempt_at = null;
        this.deps.log('webhook delivery gave up', {
          webhook_code: r.webhook_code,
          url: r.url,
          attempts: r.attempts,
          status,
          error,
        });
      } else {
        this.deps.log('webhook delivery failed, retrying', {
          webhook_code: r.webhook_code,
          status,
          error,
          retry_in_ms: delay,
        });
        this.schedule(r, delay);
      }
    }
    this.deps.changed();
    this.notify();
  }
}
