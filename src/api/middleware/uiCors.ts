/**
 * CORS for the codec routes, limited to the Temporal UI's origins. A request from any other
 * browser origin is refused (403, no CORS headers); a preflight from a UI origin is answered here,
 * before authentication, since browsers send no credentials on preflights.
 */
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors';
import type { AppEnv } from '../types';

const ALLOW_HEADERS = 'content-type, x-namespace, authorization';

export function uiCors(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);
  return createMiddleware<AppEnv>(async (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined) {
      if (c.req.method === 'OPTIONS')
        throw new ApiError(403, 'ORIGIN_NOT_ALLOWED', 'preflight without Origin');
      await next();
      return;
    }
    if (!allowed.has(origin)) {
      throw new ApiError(403, 'ORIGIN_NOT_ALLOWED', 'this origin may not call the codec server');
    }
    const cors = {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      Vary: 'Origin',
    };
    if (c.req.method === 'OPTIONS') {
      return c.body(null, 204, {
        ...cors,
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOW_HEADERS,
        'Access-Control-Max-Age': '600',
      });
    }
    await next();
    for (const [name, value] of Object.entries(cors)) c.res.headers.set(name, value);
  });
}
