/**
 * The HTTP load generator, in its own worker thread so its event loop never competes with the
 * API's (which runs on the main thread with the Temporal client and worker). Runs autocannon jobs
 * sent by `LoadGenerator` and answers with the count of 2xx answers, errors and every latency.
 */
import { readlinkSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';
import autocannon, { type AutocannonClient, type AutocannonRequest } from 'autocannon';

export interface LoadJob {
  id: number;
  url: string;
  requests: AutocannonRequest[];
  connections: number;
  durationSec: number;
  /**
   * Open loop: this many requests per second, evenly spaced, whatever the answers (at most
   * `connections` in flight; the rest wait for a socket). Latency counts from the scheduled
   * send time, so queueing is not hidden (no coordinated omission). Closed loop when absent.
   */
  rate?: number;
}

export interface LoadResult {
  id: number;
  ok: number;
  non2xx: number;
  errors: number;
  elapsedMs: number;
  /** Milliseconds from request written to response complete, one per 2xx answer. */
  latencies: Float64Array;
  statuses: Record<string, number>;
}

if (!parentPort) throw new Error('loadgenWorker runs as a worker thread');
const port = parentPort;

/** This thread's Linux thread id, so the main thread can read its CPU time from /proc. */
function threadId(): number | null {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}
port.postMessage({ id: 0, tid: threadId() });

port.on('message', (job: LoadJob) => {
  void (job.rate ? paced(job, job.rate) : run(job)).then(
    (result) => port.postMessage(result, [result.latencies.buffer as ArrayBuffer]),
    (err: unknown) => port.postMessage({ id: job.id, error: String(err) }),
  );
});

async function run(job: LoadJob): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let clientIndex = 0;
  // Each connection walks the sessions from its own offset, so connections do not all hit one
  // workflow at the same moment (autocannon would start every connection at request 0).
  const stride = Math.max(1, Math.floor(job.requests.length / job.connections));
  const setupClient = (client: AutocannonClient) => {
    const offset = (clientIndex++ * stride) % job.requests.length;
    client.setRequests([...job.requests.slice(offset), ...job.requests.slice(0, offset)]);
  };
  const started = performance.now();
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    pipelining: 1,
    duration: job.durationSec,
    timeout: 10,
    requests: job.requests,
    setupClient,
    skipAggregateResult: true,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies.push(responseTime);
    } else non2xx++;
  });
  const result = await instance;
  const elapsedMs = performance.now() - started;
  return {
    id: job.id,
    ok,
    non2xx,
    errors: result.errors + result.timeouts,
    elapsedMs,
    latencies: Float64Array.from(latencies),
    statuses,
  };
}

async function paced(job: LoadJob, rate: number): Promise<LoadResult> {
  const target = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  const started = performance.now();
  const total = Math.floor(rate * job.durationSec);
  const send = (i: number, scheduledAt: number) => {
    const r = job.requests[(i * 7919) % job.requests.length] as AutocannonRequest;
    const body = Buffer.from(String(r.body ?? ''));
    inFlight++;
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: r.method ?? 'POST',
        path: r.path ?? '/',
        headers: { ...r.headers, 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          inFlight--;
          const status = res.statusCode ?? 0;
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status >= 200 && status < 300) {
            ok++;
            latencies.push(performance.now() - scheduledAt);
          } else non2xx++;
        });
      },
    );
    req.on('error', () => {
      inFlight--;
      errors++;
    });
    req.end(body);
  };
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    while (sent < due) {
      send(sent, started + (sent * 1000) / rate);
      sent++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const deadline = performance.now() + 15_000;
  while (inFlight > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return { id: job.id, ok, non2xx, errors, elapsedMs, latencies: Float64Array.from(latencies), statuses };
}
