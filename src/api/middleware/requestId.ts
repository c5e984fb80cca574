/**
 * `X-Request-Id`: taken from the request when it is a sane token, generated otherwise, echoed on
 * the response, and bound into `c.var.log` so every line of one request carries it.
 */
import { randomUUID } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import type { Logger } from '../../observability/logger';
import type { AppEnv } from '../types';

const ACCEPTABLE = /^[\w.:-]{1,128}$/;

export function requestId(logger: Logger) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const id = incoming && ACCEPTABLE.test(incoming) ? incoming : randomUUID();
    c.set('requestId', id);
    c.set('log', logger.child({ request_id: id }));
    c.header('X-Request-Id', id);
    await next();
    // Error responses built by onError/notFound replace c.res: set it again.
    c.res.headers.set('X-Request-Id', id);
  });
}
