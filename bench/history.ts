/** Reading workflow histories for the benchmark: event times, status changes, runs and sizes. */
import type { Client, WorkflowHandle } from '@temporalio/client';
// A CommonJS bundle whose named exports Node's ESM loader cannot see: take the default export.
import proto from '@temporalio/proto';

const { temporal } = proto;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;

type LongLike = number | { toString(): string } | null | undefined;

export function eventTimeMs(event: HistoryEvent): number {
  const t = event.eventTime;
  if (!t) return Number.NaN;
  const seconds = Number(String((t.seconds as LongLike) ?? 0));
  return seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** The time the `LinkSessionStatus` search attribute was first set to `status`, or null. */
export function statusReachedAt(events: readonly HistoryEvent[], status: string): number | null {
  for (const e of events) {
    if (e.eventType !== EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) continue;
    const field =
      e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.LinkSessionStatus;
    if (!field?.data) continue;
    try {
      if (JSON.parse(Buffer.from(field.data).toString('utf8')) === status) return eventTimeMs(e);
    } catch {
      // not JSON: not ours
    }
  }
  return null;
}

export interface RunsCost {
  runs: number;
  events: number;
  bytes: number;
  continuedAsNew: boolean;
  eventTypes: Record<string, number>;
  /** Every timer: what the workflow asked for and when it actually fired (ms). */
  timers: Array<{ requestedMs: number; actualMs: number }>;
}

function durationMs(d: { seconds?: LongLike; nanos?: number | null } | null | undefined): number {
  if (!d) return Number.NaN;
  return Number(String(d.seconds ?? 0)) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

/** The run id a workflow started with (the chain of continue-as-new starts there). */
export async function firstRunIdOf(handle: WorkflowHandle): Promise<string> {
  const d = await handle.describe();
  return d.raw.workflowExecutionInfo?.firstRunId || d.runId;
}

/** Follows continue-as-new from the first run: events and bytes summed over every run. */
export async function costOfAllRuns(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<RunsCost> {
  const cost: RunsCost = { runs: 0, events: 0, bytes: 0, continuedAsNew: false, eventTypes: {}, timers: [] };
  let runId: string | null = firstRunId;
  while (runId && cost.runs < 100) {
    const handle: WorkflowHandle = client.workflow.getHandle(workflowId, runId);
    const history: proto.temporal.api.history.v1.IHistory = await handle.fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    const d = await handle.describe();
    cost.runs++;
    cost.events += events.length;
    cost.bytes += d.historySize ?? 0;
    for (const e of events) {
      const name = EventType[e.eventType ?? 0] ?? String(e.eventType);
      const short = name.replace(/^EVENT_TYPE_/, '');
      cost.eventTypes[short] = (cost.eventTypes[short] ?? 0) + 1;
    }
    const timersStarted = new Map<string, { at: number; requested: number }>();
    for (const e of events) {
      if (e.eventType === EventType.EVENT_TYPE_TIMER_STARTED) {
        const a = e.timerStartedEventAttributes;
        timersStarted.set(a?.timerId ?? '', {
          at: eventTimeMs(e),
          requested: durationMs(a?.startToFireTimeout as { seconds?: LongLike; nanos?: number | null }),
        });
      } else if (e.eventType === EventType.EVENT_TYPE_TIMER_FIRED) {
        const started = timersStarted.get(e.timerFiredEventAttributes?.timerId ?? '');
        if (started)
          cost.timers.push({ requestedMs: started.requested, actualMs: eventTimeMs(e) - started.at });
      }
    }
    const last: HistoryEvent | undefined = events.at(-1);
    if (last?.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW) {
      cost.continuedAsNew = true;
      runId = last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? null;
    } else {
      runId = null;
    }
  }
  return cost;
}

export interface ActivityTiming {
  type: string;
  scheduledAt: number;
  startedAt: number;
  completedAt: number;
}

/** Every activity of a history: when it was scheduled, picked up by the worker and completed. */
export function activityTimings(events: readonly HistoryEvent[]): ActivityTiming[] {
  const byScheduled = new Map<string, ActivityTiming>();
  for (const e of events) {
    const id = String(e.eventId ?? '');
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      byScheduled.set(id, {
        type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?',
        scheduledAt: eventTimeMs(e),
        startedAt: Number.NaN,
        completedAt: Number.NaN,
      });
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const t = byScheduled.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? ''));
      if (t) t.startedAt = eventTimeMs(e);
    } else if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) {
      const t = byScheduled.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? ''));
      if (t) t.completedAt = eventTimeMs(e);
    }
  }
  return [...byScheduled.values()];
}
