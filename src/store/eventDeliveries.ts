/**
 * Outbound event deliveries, one row per event id (= webhook-id), written by the delivery activity
 * on every attempt, so `/metrics` (in whichever process serves it) counts delivered, retrying
 * and given-up events from the same database.
 */
import type { Db } from './db';

export type DeliveryState = 'retrying' | 'delivered' | 'given_up';

export interface EventDeliveryCounts {
  delivered: number;
  retrying: number;
  given_up: number;
  /** Every attempt of every event (first attempts included). */
  attempts: number;
}

export interface EventDeliveryStore {
  recordEventAttempt(a: {
    eventId: string;
    type: string;
    state: DeliveryState;
    status: number | null;
    error: string | null;
  }): Promise<void>;
  eventDeliveryCounts(): Promise<EventDeliveryCounts>;
  /** The deliveries of one session's events (ids `<session_id>:…`), in the order they were first tried. */
  listEventDeliveries(sessionId: string): Promise<EventDelivery[]>;
}

export interface EventDelivery {
  id: string;
  type: string;
  state: DeliveryState;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
}

export function createEventDeliveryStore(db: Db): EventDeliveryStore {
  return {
    async recordEventAttempt(a) {
      await db.query(
        `INSERT INTO event_deliveries (event_id, type, state, attempts, last_status, last_error)
         VALUES ($1, $2, $3, 1, $4, $5)
         ON CONFLICT (event_id) DO UPDATE SET
           state = CASE WHEN event_deliveries.state = 'delivered' THEN 'delivered' ELSE EXCLUDED.state END,
           attempts = event_deliveries.attempts + CASE WHEN $3 = 'given_up' THEN 0 ELSE 1 END,
           last_status = COALESCE(EXCLUDED.last_status, event_deliveries.last_status),
           last_error = EXCLUDED.last_error, updated_at = now()`,
        [a.eventId, a.type, a.state, a.status, a.error],
      );
    },

    async listEventDeliveries(sessionId) {
      return db.query<EventDelivery>(
        `SELECT event_id AS id, type, state, attempts, last_status, last_error FROM event_deliveries
          WHERE left(event_id, length($1)) = $1 ORDER BY first_attempt_at, event_id`,
        [`${sessionId}:`],
      );
    },

    async eventDeliveryCounts() {
      const [row] = await db.query<EventDeliveryCounts>(
        `SELECT (count(*) FILTER (WHERE state = 'delivered'))::int AS delivered,
                (count(*) FILTER (WHERE state = 'retrying'))::int AS retrying,
                (count(*) FILTER (WHERE state = 'given_up'))::int AS given_up,
                COALESCE(sum(attempts), 0)::int AS attempts
           FROM event_deliveries`,
      );
      return row ?? { delivered: 0, retrying: 0, given_up: 0, attempts: 0 };
    },
  };
}
