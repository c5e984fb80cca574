/** The hand-off parts (issue 14) every linkflow process composes from its services and env. */
import type { HandoffDeps } from '../api/deps';
import { outboundEventsFromEnv } from '../config/handoff';
import type { Services } from './services';

/** The API's Items / secrets / events dependencies. */
export function handoffDeps(services: Services): HandoffDeps {
  const events = outboundEventsFromEnv(services.env);
  return { store: services.store, plaid: services.plaid, events: events && { retry: events.retry } };
}

/** The worker's event activities' dependencies; undefined when outbound events are off. */
export function eventActivityDeps(services: Services) {
  const config = outboundEventsFromEnv(services.env);
  return config ? { config, deliveries: services.store } : undefined;
}
