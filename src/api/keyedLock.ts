/**
 * Small concurrency helpers: a per-key mutex (so concurrent requests with one idempotency key run
 * one after the other and the second sees the first's result), single flight (concurrent callers
 * share one promise; nothing is remembered once it settles), and bounded parallel map.
 */
export function createKeyedLock() {
  const tails = new Map<string, Promise<void>>();
  return async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export function createSingleFlight<T>() {
  const inflight = new Map<string, Promise<T>>();
  return function run(key: string, fn: () => Promise<T>): Promise<T> {
    let flight = inflight.get(key);
    if (!flight) {
      flight = fn().finally(() => inflight.delete(key));
      inflight.set(key, flight);
    }
    return flight;
  };
}

export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}
