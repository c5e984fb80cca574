/** `/healthz` (liveness, reports Temporal reachability), `/readyz` (503 without Temporal), `/metrics`. */
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { TemporalDeps } from '../deps';
import { hasValidToken, unauthorized } from '../middleware/auth';
import type { AppEnv } from '../types';

export interface HealthRoutesDeps {
  temporal: TemporalDeps;
  registry: Registry;
  /** How long the Temporal check may take (default 1 s). */
  checkTimeoutMs?: number;
  /** When set, `/metrics` needs it as a bearer token (`LINKFLOW_METRICS_TOKEN`); anonymous otherwise. */
  metricsToken?: string | null;
}

export function healthRoutes(deps: HealthRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { client } = deps.temporal;

  async function temporalReachable(): Promise<boolean> {
    try {
      await client.withDeadline(Date.now() + (deps.checkTimeoutMs ?? 1000), () =>
        client.workflowService.getSystemInfo({}),
      );
      return true;
    } catch {
      return false;
    }
  }

  // Liveness: the process answers. Temporal's state is reported, not held against it (restarting
  // the API does not bring Temporal back).
  app.get('/healthz', async (c) => {
    const reachable = await temporalReachable();
    return c.json({ ok: true, temporal: reachable ? 'reachable' : 'unreachable' });
  });

  app.get('/readyz', async (c) => {
    const reachable = await temporalReachable();
    return c.json(
      reachable
        ? { ok: true, temporal: 'reachable' }
        : {
            ok: false,
            temporal: 'unreachable',
            error: { code: 'TEMPORAL_UNAVAILABLE', message: 'Temporal is unreachable' },
          },
      reachable ? 200 : 503,
    );
  });

  app.get('/metrics', async (c) => {
    const token = deps.metricsToken ?? null;
    if (token !== null && !hasValidToken(c, [token])) {
      c.header('WWW-Authenticate', 'Bearer realm="linkflow-metrics"');
      throw unauthorized();
    }
    return c.body(await deps.registry.metrics(), 200, { 'Content-Type': deps.registry.contentType });
  });
  return app;
}
