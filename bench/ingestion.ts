/**
 * 1. Webhook ingestion: emulator-signed LINK webhooks POSTed to the API for N open sessions, at
 * several concurrencies, against a baseline of raw `client.workflow.signal()` calls to the same
 * sessions from this process (no HTTP, no verification).
 *
 * Payload choice: duplicate deliveries. Each session gets one real Item through the emulator
 * (its ITEM_ADD_RESULT reaches the API, the workflow exchanges the token; SESSION_FINISHED is held
 * back so the session stays open in `linking`). The benchmark then replays that exact signed
 * ITEM_ADD_RESULT (same bytes, same `Plaid-Verification`), so every measured delivery is verified,
 * parsed and signalled in full, and the workflow dedupes it (one workflow task, no new activity):
 * this measures ingestion only, not exchanges.
 */
import type { AutocannonRequest } from 'autocannon';
import { CATALOGUE } from '../src/emulator';
import { signWebhookSignal } from '../src/temporal/webhookSignalMac';
import { itemAddResultSignal, linkSessionWorkflowId } from '../src/workflows/definitions';
import type { ItemAddResultSignal } from '../src/workflows/types';
import { type CpuUse, cpuSnapshot, cpuUse, findDevServerPid } from './cpu';
import { startFloorServer } from './floor';
import { LoadGenerator } from './loadgen';
import { type ProfileSummary, profiled } from './profile';
import { type BenchStack, type CapturedWebhook, createSession, emulatorCall } from './stack';
import { mapLimit, median, percentile, progress, round, sleep, until } from './util';

export interface IngestionOptions {
  sessions: number;
  concurrencies: number[];
  reps: number;
  /** Repetitions at the highest concurrency (the headline figures). */
  headlineReps: number;
  durationSec: number;
  /** Open-loop rate for the latency-below-saturation runs, as a fraction of raw capacity. */
  pacedFraction: number;
  /** When set, one extra (uncounted) webhook run and raw run at the highest concurrency are CPU-profiled. */
  profileDir?: string;
}

export interface RunFigures {
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  ok: number;
  failed: number;
  cpu?: CpuUse;
}

export interface ConcurrencyFigures {
  concurrency: number;
  reps: number;
  webhook: RunFigures;
  raw: RunFigures;
  /** Median over repetitions of webhooks/s ÷ raw signals/s, each pair measured back to back. */
  ratio: number;
  /** Median webhooks/s ÷ median raw signals/s. */
  ratio_of_medians: number;
  webhook_runs: RunFigures[];
  raw_runs: RunFigures[];
  /** Attribution: a bare node:http server sending the same signal (highest concurrency only). */
  floor?: RunFigures;
  floor_runs?: RunFigures[];
}

export interface PacedFigures {
  rate_per_s: number;
  fraction_of_raw_capacity: number;
  max_in_flight: number;
  webhook: RunFigures;
  raw: RunFigures;
}

export interface IngestionResult {
  sessions: number;
  payload: string;
  run_seconds: number;
  reps: number;
  by_concurrency: ConcurrencyFigures[];
  paced?: PacedFigures;
  signals_delivered: number;
  sessions_continued_as_new: number;
  max_history_events: number;
  profiles?: { webhook: ProfileSummary; raw: ProfileSummary };
}

/** iat is checked against a 300 s window: leave margin. */
const SIGNATURE_FRESH_MS = 270_000;

export async function waitWorkerQuiet(stack: BenchStack, quietMs = 250, timeoutMs = 60_000): Promise<void> {
  let quietSince = Date.now();
  await until(
    'the worker to go quiet',
    () => {
      const s = stack.worker.getStatus();
      if (s.numInFlightActivities > 0 || s.numInFlightWorkflowActivations > 0) quietSince = Date.now();
      return Date.now() - quietSince >= quietMs ? true : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

interface Target {
  workflowId: string;
  publicToken: string;
  linkSessionId: string | null;
}

async function prepareSessions(stack: BenchStack, n: number) {
  progress(`ingestion: creating ${n} sessions through POST /link/sessions`);
  const sessions = await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    16,
    (i) => createSession(stack, `bench-ingest-${i}`),
  );
  const institution = CATALOGUE[0]?.institution_id;
  if (!institution) throw new Error('emulator catalogue is empty');
  stack.tap.clear();
  stack.tap.hold.add('SESSION_FINISHED');
  progress(`ingestion: one Item per session through the emulator (SESSION_FINISHED held back)`);
  await mapLimit(sessions, 16, (s) =>
    emulatorCall(stack, '/__emulator/link/complete', {
      link_token: s.link_token,
      institutions: [institution],
    }),
  );
  const tokens = new Set(sessions.map((s) => s.link_token));
  const itemAdds = await until(
    'every ITEM_ADD_RESULT to be answered 200 by the API',
    () => {
      const done = stack.tap.captured.filter(
        (w) => w.code === 'ITEM_ADD_RESULT' && tokens.has(w.linkToken) && w.status === 200,
      );
      const finished = stack.tap.captured.filter((w) => w.code === 'SESSION_FINISHED' && w.held).length;
      return done.length >= n && finished >= n ? done : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  stack.tap.hold.delete('SESSION_FINISHED');
  const bad = stack.tap.captured.filter((w) => w.status !== null && w.status !== 200);
  if (bad.length > 0)
    throw new Error(`${bad.length} webhooks were refused by the API (first: ${bad[0]?.status})`);
  // Each first delivery started an exchange and a describe: let them finish before measuring.
  await until(
    'the first exchanges',
    () => {
      const exchanges = stack.emulator.emulator.state().exchanges;
      return itemAdds.every((w) => (exchanges[w.publicToken ?? ''] ?? 0) >= 1) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
  await waitWorkerQuiet(stack, 500);
  return itemAdds;
}

function figures(ok: number, failed: number, elapsedMs: number, latencies: ArrayLike<number>): RunFigures {
  return {
    per_s: round(ok / (elapsedMs / 1000), 0),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    ok,
    failed,
  };
}

async function rawRun(stack: BenchStack, targets: Target[], concurrency: number, durationSec: number) {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const stride = Math.max(1, Math.floor(targets.length / concurrency));
  const started = performance.now();
  const stopAt = started + durationSec * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      let i = lane * stride;
      while (performance.now() < stopAt) {
        const target = targets[i++ % targets.length] as Target;
        const t0 = performance.now();
        try {
          await signalRaw(stack, target);
          latencies.push(performance.now() - t0);
          ok++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return figures(ok, failed, performance.now() - started, latencies);
}

function signalRaw(stack: BenchStack, target: Target): Promise<void> {
  const payload: ItemAddResultSignal = {
    public_token: target.publicToken,
    link_session_id: target.linkSessionId,
    received_at: new Date().toISOString(),
  };
  return stack.client.workflow
    .getHandle(target.workflowId)
    .signal(itemAddResultSignal, signWebhookSignal(stack.services.keyring, target.workflowId, payload));
}

/** Open loop, like the paced load generator: `rate`/s evenly spaced, at most `maxInFlight` at once. */
async function rawPaced(
  stack: BenchStack,
  targets: Target[],
  rate: number,
  maxInFlight: number,
  durationSec: number,
) {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  const queue: Array<() => void> = [];
  const started = performance.now();
  const total = Math.floor(rate * durationSec);
  const pending: Array<Promise<void>> = [];
  const fire = async (i: number, scheduledAt: number) => {
    if (inFlight >= maxInFlight) await new Promise<void>((resolve) => queue.push(resolve));
    inFlight++;
    try {
      await signalRaw(stack, targets[(i * 7919) % targets.length] as Target);
      latencies.push(performance.now() - scheduledAt);
      ok++;
    } catch {
      failed++;
    } finally {
      inFlight--;
      queue.shift()?.();
    }
  };
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    while (sent < due) {
      pending.push(fire(sent, started + (sent * 1000) / rate));
      sent++;
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return figures(ok, failed, performance.now() - started, latencies);
}

function medianCpu(runs: RunFigures[]): CpuUse | undefined {
  const cpus = runs.flatMap((r) => (r.cpu ? [r.cpu] : []));
  const first = cpus[0];
  if (!first) return undefined;
  const keys = Object.keys(first) as Array<keyof CpuUse>;
  return Object.fromEntries(
    keys.map((k) => [k, round(median(cpus.map((c) => c[k])), 3)]),
  ) as unknown as CpuUse;
}

function medianFigures(runs: RunFigures[]): RunFigures {
  const cpu = medianCpu(runs);
  return {
    ...(cpu && { cpu }),
    per_s: round(median(runs.map((r) => r.per_s)), 0),
    p50_ms: round(median(runs.map((r) => r.p50_ms)), 2),
    p99_ms: round(median(runs.map((r) => r.p99_ms)), 2),
    ok: runs.reduce((a, r) => a + r.ok, 0),
    failed: runs.reduce((a, r) => a + r.failed, 0),
  };
}

export async function benchIngestion(stack: BenchStack, opts: IngestionOptions): Promise<IngestionResult> {
  const itemAdds: CapturedWebhook[] = await prepareSessions(stack, opts.sessions);
  const capturedAt = Math.min(...itemAdds.map((w) => w.sentAt));
  const requests: AutocannonRequest[] = itemAdds.map((w) => ({
    method: 'POST',
    path: '/webhooks/plaid',
    headers: { 'content-type': 'application/json', 'plaid-verification': w.signature },
    body: w.body,
  }));
  const targets: Target[] = itemAdds.map((w) => {
    const body = JSON.parse(w.body) as { link_session_id?: string };
    return {
      workflowId: linkSessionWorkflowId(w.linkToken),
      publicToken: w.publicToken ?? '',
      linkSessionId: body.link_session_id ?? null,
    };
  });

  // One replay by hand: it must be verified and delivered, not dropped.
  const probe = itemAdds[0] as CapturedWebhook;
  const res = await fetch(`${stack.api.url}/webhooks/plaid`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'plaid-verification': probe.signature },
    body: probe.body,
  });
  const answer = (await res.json()) as { outcome?: string };
  if (res.status !== 200 || answer.outcome !== 'delivered') {
    throw new Error(`replayed webhook answered ${res.status} ${JSON.stringify(answer)}`);
  }

  const load = new LoadGenerator();
  await load.ready;
  const devServerPid = findDevServerPid();
  const snapshot = () => cpuSnapshot(load.tid, devServerPid);
  const url = stack.api.url;
  const floorServer = await startFloorServer(stack.client, stack.services.keyring);
  const byConcurrency: ConcurrencyFigures[] = [];
  let paced: PacedFigures | undefined;

  type Kind = 'webhook' | 'raw' | 'floor';
  const measure = async (kind: Kind, o: { connections: number; rate?: number }): Promise<RunFigures> => {
    const before = snapshot();
    let f: RunFigures;
    if (kind === 'raw') {
      f = o.rate
        ? await rawPaced(stack, targets, o.rate, o.connections, opts.durationSec)
        : await rawRun(stack, targets, o.connections, opts.durationSec);
    } else {
      const r = await load.run({
        url: kind === 'webhook' ? url : floorServer.url,
        requests,
        connections: o.connections,
        durationSec: opts.durationSec,
        ...(o.rate && { rate: o.rate }),
      });
      if (r.non2xx + r.errors > 0) {
        progress(`  ${kind}: ${r.errors} errors, non-2xx answers ${JSON.stringify(r.statuses)}`);
      }
      f = figures(r.ok, r.non2xx + r.errors, r.elapsedMs, r.latencies);
    }
    f.cpu = cpuUse(before, snapshot(), f.ok);
    await waitWorkerQuiet(stack);
    await sleep(100);
    return f;
  };
  let delivered = 0;
  let profiles: IngestionResult['profiles'];
  try {
    const fresh = () => {
      if (Date.now() - capturedAt > SIGNATURE_FRESH_MS) {
        throw new Error(
          'the captured signatures are about to go stale (iat > 270 s): lower --reps or --run-seconds',
        );
      }
    };
    progress('ingestion: warm-up (JIT, connections)');
    await load.run({ url, requests, connections: 16, durationSec: 1 });
    await rawRun(stack, targets, 16, 1);
    await waitWorkerQuiet(stack);

    const maxC = Math.max(...opts.concurrencies);
    for (const c of opts.concurrencies) {
      const webhookRuns: RunFigures[] = [];
      const rawRuns: RunFigures[] = [];
      const floorRuns: RunFigures[] = [];
      const repsHere = c === maxC ? opts.headlineReps : opts.reps;
      for (let rep = 0; rep < repsHere; rep++) {
        // Alternate which goes first, so a drift (history growth, GC) does not favour either.
        const kinds: Kind[] = c === maxC ? ['webhook', 'raw', 'floor'] : ['webhook', 'raw'];
        const order = rep % 2 === 0 ? kinds : [...kinds].reverse();
        for (const kind of order) {
          fresh();
          const f = await measure(kind, { connections: c });
          (kind === 'webhook' ? webhookRuns : kind === 'raw' ? rawRuns : floorRuns).push(f);
          delivered += f.ok;
        }
        const w = webhookRuns.at(-1) as RunFigures;
        const r = rawRuns.at(-1) as RunFigures;
        progress(
          `ingestion c=${c} rep ${rep + 1}/${repsHere}: webhooks ${w.per_s}/s p50 ${w.p50_ms} p99 ${w.p99_ms} ms (CPU ${w.cpu?.ours_ms_per_request} ms/req, main ${w.cpu?.main_thread_cores} cores) | raw ${r.per_s}/s p50 ${r.p50_ms} p99 ${r.p99_ms} ms (CPU ${r.cpu?.ours_ms_per_request} ms/req)${floorRuns.length > rep ? ` | floor ${floorRuns.at(-1)?.per_s}/s` : ''} | other processes ${w.cpu?.other_processes_cores} cores`,
        );
      }
      const webhook = medianFigures(webhookRuns);
      const raw = medianFigures(rawRuns);
      byConcurrency.push({
        concurrency: c,
        reps: repsHere,
        webhook,
        raw,
        ratio: round(median(webhookRuns.map((w, i) => w.per_s / (rawRuns[i]?.per_s ?? Number.NaN))), 3),
        ratio_of_medians: round(webhook.per_s / raw.per_s, 3),
        webhook_runs: webhookRuns,
        raw_runs: rawRuns,
        ...(floorRuns.length > 0 && { floor: medianFigures(floorRuns), floor_runs: floorRuns }),
      });
    }

    // Open loop below saturation: the latency a webhook sees when the system is not overloaded.
    const top = byConcurrency.find((x) => x.concurrency === maxC);
    if (top) {
      const rate = Math.max(10, Math.round((top.raw.per_s * opts.pacedFraction) / 10) * 10);
      const webhookRuns: RunFigures[] = [];
      const rawRuns: RunFigures[] = [];
      for (let rep = 0; rep < opts.reps; rep++) {
        const kinds: Kind[] = rep % 2 === 0 ? ['webhook', 'raw'] : ['raw', 'webhook'];
        for (const kind of kinds) {
          fresh();
          const f = await measure(kind, { connections: maxC, rate });
          (kind === 'webhook' ? webhookRuns : rawRuns).push(f);
          delivered += f.ok;
        }
        const w = webhookRuns.at(-1) as RunFigures;
        const r = rawRuns.at(-1) as RunFigures;
        progress(
          `ingestion paced ${rate}/s rep ${rep + 1}/${opts.reps}: webhooks p50 ${w.p50_ms} p99 ${w.p99_ms} ms | raw p50 ${r.p50_ms} p99 ${r.p99_ms} ms`,
        );
      }
      paced = {
        rate_per_s: rate,
        fraction_of_raw_capacity: opts.pacedFraction,
        max_in_flight: maxC,
        webhook: medianFigures(webhookRuns),
        raw: medianFigures(rawRuns),
      };
    }

    if (opts.profileDir) {
      const dir = opts.profileDir;
      const c = Math.max(...opts.concurrencies);
      fresh();
      progress(`ingestion: profiling one extra webhook run and raw run at c=${c} (not counted)`);
      const [w, webhook] = await profiled(dir, `webhooks-c${c}`, () =>
        load.run({ url, requests, connections: c, durationSec: opts.durationSec }),
      );
      await waitWorkerQuiet(stack);
      const [r, raw] = await profiled(dir, `raw-signals-c${c}`, () =>
        rawRun(stack, targets, c, opts.durationSec),
      );
      await waitWorkerQuiet(stack);
      profiles = { webhook: { ...webhook, requests: w.ok }, raw: { ...raw, requests: r.ok } };
    }
  } finally {
    await load.close();
    await floorServer.close();
  }

  // Cost side effects: how long the histories got, and whether any session continued as new.
  let continued = 0;
  let maxEvents = 0;
  await mapLimit(targets, 16, async (t) => {
    const handle = stack.client.workflow.getHandle(t.workflowId);
    const d = await handle.describe();
    maxEvents = Math.max(maxEvents, d.historyLength);
    const first = d.raw.workflowExecutionInfo?.firstRunId;
    if (first && d.runId !== first) continued++;
  });
  // These sessions would start polling 5 minutes after the last webhook: close them now.
  await mapLimit(targets, 16, (t) =>
    stack.client.workflow.getHandle(t.workflowId).terminate('benchmark ingestion phase done'),
  );
  return {
    sessions: opts.sessions,
    payload:
      'duplicate deliveries: the exact emulator-signed ITEM_ADD_RESULT of each session, replayed (verified, signalled, deduped by the workflow)',
    run_seconds: opts.durationSec,
    reps: opts.reps,
    by_concurrency: byConcurrency,
    ...(paced && { paced }),
    signals_delivered: delivered,
    sessions_continued_as_new: continued,
    max_history_events: maxEvents,
    ...(profiles && { profiles }),
  };
}
