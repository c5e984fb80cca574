/** A FIFO async mutex: one holder at a time, waiters served in arrival order. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` once every earlier holder has settled. With `wait`, gives up waiting after
   * `wait.ms`: the returned promise rejects with `wait.onTimeout()` and `fn` never runs (its turn
   * is skipped), so a caller is never stuck behind a holder that does not finish.
   */
  run<T>(fn: () => Promise<T>, wait?: { ms: number; onTimeout: () => Error }): Promise<T> {
    let gaveUp = false;
    let timer: NodeJS.Timeout | undefined;
    const result = this.#tail.then(() => {
      if (timer) clearTimeout(timer);
      if (gaveUp) return undefined as T;
      return fn();
    });
    // The next holder waits for this one to settle, whether it succeeded or failed.
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    if (!wait) return result;
    return new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        reject(wait.onTimeout());
      }, wait.ms);
      result.then(resolve, reject);
    });
  }
}
