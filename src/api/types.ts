/** Hono context variables every route can rely on (set by the request-id middleware). */
import type { Logger } from '../observability/logger';

export interface AppEnv {
  Variables: {
    requestId: string;
    /** The app logger bound to this request's id. */
    log: Logger;
  };
}
