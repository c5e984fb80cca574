/**
 * One log line and one metric sample per request. Logs the path without its query string (the
 * query can carry a client user id) and labels metrics with the route pattern, not the raw path.
 */
import { createMiddleware } from 'hono/factory';
import { routePath } from 'hono/route';
import type { ApiMetrics } from '../../observability/metrics';
import type { AppEnv } from '../types';

export function accessLog(metrics: ApiMetrics) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = c.res.status === 404 && routePath(c, -1) === '/*' ? 'unmatched' : routePath(c, -1);
    const method = c.req.method;
    const status = c.res.status;
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpDuration.observe({ method, route }, seconds);
    // The UI's codec endpoint carries its credential in the path: never log it.
    const path = c.req.path.replace(/^\/codec\/ui\/[^/]+/, '/codec/ui/:token');
    const line = { method, path, route, status, duration_ms: Math.round(seconds * 1000) };
    if (status >= 500) c.var.log.error(line, 'request failed');
    else c.var.log.info(line, 'request');
  });
}
