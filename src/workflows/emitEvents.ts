/**
 * Emission of outbound events from the session workflow: the view after each change is compared
 * with the last one announced (`sessionEvents`, pure), and new events are handed to ONE local
 * activity per batch that starts their delivery workflows (history cost: one marker per batch).
 * While a batch is in flight, new events queue for the next one. Per-workflow state is keyed by
 * the workflow's input object, so sessions sharing a V8 context never see each other's.
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
  queue: OutboundEvent[];
  draining: boolean;
}

const emitters = new WeakMap<object, Emitter>();

export function emitSessionEvents(owner: object, view: SessionView, at: string): void {
  let emitter = emitters.get(owner);
  if (!emitter) {
    emitter = { announced: null, queue: [], draining: false };
    emitters.set(owner, emitter);
  }
  const events = sessionEvents(emitter.announced, view, at);
  emitter.announced = view;
  if (events.length === 0) return;
  emitter.queue.push(...events);
  if (!emitter.draining) void drain(emitter);
}

async function drain(emitter: Emitter): Promise<void> {
  emitter.draining = true;
  try {
    while (emitter.queue.length > 0) {
      const batch = emitter.queue.splice(0);
      await startEventDeliveries(batch).catch((err: unknown) =>
        log.error('starting outbound event deliveries failed', {
          events: batch.map((e) => e.id),
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    }
  } finally {
    emitter.draining = false;
  }
}

/** Resolves once no batch of this workflow's events is in flight (at once when none ever was). */
export function eventsEmitted(owner: object): Promise<void> {
  const emitter = emitters.get(owner);
  if (!emitter?.draining) return Promise.resolve();
  return condition(() => !emitter.draining);
}
