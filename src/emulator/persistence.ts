/**
 * The state file: the whole emulator state as JSON, mode 0600 (it holds access tokens and signing
 * keys). Every write is durable before it counts: the JSON goes to a temp file that is fsync'd,
 * renamed over the state file, and the directory is fsync'd, so a crash leaves either the old or
 * the new file, never half of one, and a rename that was reported is on disk.
 *
 * `commit()` is a group commit: it resolves once a write that started after the call finished, so
 * concurrent callers share one write, and a caller that answers after `commit()` never answers
 * about a change a SIGKILL could lose. Background changes (webhook attempts) use the debounced
 * `scheduleSave()`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type EmulatorState, STATE_VERSION } from './state';
import { StateSerializer } from './stateSerializer';

const DEBOUNCE_MS = 20;
const FILE_MODE = 0o600;

export function loadStateFile(path: string): EmulatorState | null {
  if (!existsSync(path)) return null;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as EmulatorState;
  if (parsed.version !== STATE_VERSION) {
    throw new Error(
      `${path}: emulator state version ${parsed.version} is not supported (expected ${STATE_VERSION})`,
    );
  }
  return upgradeState(parsed);
}

/** Fields added since version 1 was first written get their defaults, so older files still load. */
function upgradeState(state: EmulatorState): EmulatorState {
  state.transfer_idempotency ??= {};
  state.microdeposits ??= [];
  return state;
}

interface Waiter {
  ticket: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class StateFileWriter {
  private timer: NodeJS.Timeout | null = null;
  private requested = 0;
  private written = 0;
  private running = false;
  private waiters: Waiter[] = [];
  private sequence = 0;
  private closed = false;
  private readonly serializer = new StateSerializer();

  constructor(
    private readonly path: string,
    private readonly snapshot: () => EmulatorState,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Coalesces bursts of background changes into one write shortly after. */
  scheduleSave(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.commit().catch(this.onError);
    }, DEBOUNCE_MS);
  }

  /** Resolves once the state as it is now is durably on disk; rejects if that write failed. */
  commit(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const ticket = ++this.requested;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ ticket, resolve, reject }));
    if (!this.running) void this.drain();
    return done;
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.commit();
  }

  /** Final write; later changes (there should be none) are not saved. */
  async close(): Promise<void> {
    await this.flush().catch(this.onError);
    this.closed = true;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.written < this.requested) {
        // Serialised now: this write covers every commit requested so far.
        const upTo = this.requested;
        const json = this.serializer.serialize(this.snapshot());
        let failure: unknown = null;
        try {
          await this.writeDurably(json);
        } catch (err) {
          failure = err;
          this.onError(err);
        }
        this.written = upTo;
        const ready = this.waiters.filter((w) => w.ticket <= upTo);
        this.waiters = this.waiters.filter((w) => w.ticket > upTo);
        for (const w of ready) {
          if (failure) w.reject(failure);
          else w.resolve();
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async writeDurably(json: string): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.${++this.sequence}.tmp`;
    const file = await open(tmp, 'w', FILE_MODE);
    try {
      await file.writeFile(json);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.path);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
