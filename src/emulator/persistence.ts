/**
 * The state file: the whole emulator state as JSON, written atomically (temp file + rename, so a
 * crash never leaves a half-written file) shortly after each change, and flushed on close.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type EmulatorState, STATE_VERSION } from './state';

const DEBOUNCE_MS = 20;

export function loadStateFile(path: string): EmulatorState | null {
  if (!existsSync(path)) return null;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as EmulatorState;
  if (parsed.version !== STATE_VERSION) {
    throw new Error(
      `${path}: emulator state version ${parsed.version} is not supported (expected ${STATE_VERSION})`,
    );
  }
  return parsed;
}

export class StateFileWriter {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private sequence = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => EmulatorState,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Coalesces bursts of changes (one link completion touches many records) into one write. */
  scheduleSave(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, DEBOUNCE_MS);
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.write();
  }

  /** Final write; later changes (there should be none) are not saved. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private write(): Promise<void> {
    // Serialise now, write in order: the last write always carries the latest state.
    const json = JSON.stringify(this.snapshot());
    const tmp = `${this.path}.${process.pid}.${++this.sequence}.tmp`;
    this.writing = this.writing.then(async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true });
        await writeFile(tmp, json);
        await rename(tmp, this.path);
      } catch (err) {
        this.onError(err);
      }
    });
    return this.writing;
  }
}
