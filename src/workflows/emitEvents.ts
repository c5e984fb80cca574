/**
 * Emission of outbound events from the session workflow: the view after each change is compared
 * with the last one announced (`sessionEvents`, pure), and the new events of that change are
 * handed to one local activity that starts their delivery workflows (history cost: one marker per
 * change that announced something). Per-workflow state is keyed by the workflow's input object,
 * so sessions sharing a V8 context never see each other's.
 *
 * A run must not close while a batch is in flight: a local activity still pending when the
 * workflow completes is dropped (the session's last events — `link_session.completed` — would
 * never start). `eventsEmitted` is what the workflow awaits before returning. (A continue-as-new
 * needs no wait: the next run announces everything again under the same ids.)
 */
import { condition, log, proxyLocalActivities } from '@temporalio/workflow';
import type { EventActivities } from './eventActivityTypes';
import { type OutboundEvent, sessionEvents } from './events';
import type { SessionView } from './types';

const { startEventDeliveries } = proxyLocalActivities<EventActivities>({
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '1h',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

interface Emitter {
  announced: SessionView | null;
  /** Batches whose local activity has not answered yet. */
  inFlight: number;
}

const emitters = new WeakMap<object, Emitter>();

export function emitSessionEvents(owner: object, view: SessionView, at: string): void {
  let emitter = emitters.get(owner);
  if (!emitter) {
    emitter = { announced: null, inFlight: 0 };
    emitters.set(owner, emitter);
  }
  const events = sessionEvents(emitter.announced, view, at);
  emitter.announced = view;
  if (events.length === 0) return;
  // Scheduled right here, in the event's own dispatch: where a local activity is scheduled must
  // depend on nothing but the history, or a replay (a worker restart) cannot match its marker.
  void deliver(emitter, events);
}

async function deliver(emitter: Emitter, batch: OutboundEvent[]): Promise<void> {
  emitter.inFlight++;
  try {
    await startEventDeliveries(batch);
  } catch (err) {
    log.error('starting outbound event deliveries failed', {
      events: batch.map((e) => e.id),
      error: err instanceof Error ? err.message : String(err),
    });
  } finally {
    emitter.inFlight--;
  }
}

/** Resolves once no batch of this workflow's events is waiting or in flight (at once when none is). */
export function eventsEmitted(owner: object): Promise<void> {
  const emitter = emitters.get(owner);
  const idle = () => !emitter || emitter.inFlight === 0;
  return idle() ? Promise.resolve() : condition(idle);
}
