/** Main-thread side of the load generator thread (see loadgenWorker.ts). */
import { Worker } from 'node:worker_threads';
import type { AutocannonRequest } from 'autocannon';
import type { LoadJob, LoadResult } from './loadgenWorker';

export class LoadGenerator {
  private readonly worker: Worker;
  private nextId = 1;
  /** The load generator thread's Linux thread id (for CPU accounting), once it has started. */
  tid: number | null = null;
  readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private readonly pending = new Map<
    number,
    { resolve: (r: LoadResult) => void; reject: (e: Error) => void }
  >();

  constructor() {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    const entry = new URL('./loadgenWorker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // Worker threads do not inherit `--import tsx` for their entry: register it, then load the .ts.
    this.worker = new Worker(
      `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
      { eval: true },
    );
    this.worker.on(
      'message',
      (msg: LoadResult | { id: number; error: string } | { id: 0; tid: number | null }) => {
        if ('tid' in msg) {
          this.tid = msg.tid;
          this.markReady();
          return;
        }
        const waiter = this.pending.get(msg.id);
        if (!waiter) return;
        this.pending.delete(msg.id);
        if ('error' in msg) waiter.reject(new Error(msg.error));
        else waiter.resolve(msg);
      },
    );
    this.worker.on('error', (err) => {
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    });
  }

  run(opts: {
    url: string;
    requests: AutocannonRequest[];
    connections: number;
    durationSec: number;
    rate?: number;
  }): Promise<LoadResult> {
    const job: LoadJob = { id: this.nextId++, ...opts };
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      this.worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
