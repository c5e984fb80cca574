/** A FIFO async mutex: one holder at a time, waiters served in arrival order. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    // The next holder waits for this one to settle, whether it succeeded or failed.
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
