/** Cross-cutting behaviour: request ids, secure headers, health, metrics, OpenAPI, docs, JSON 404s. */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { createHarness } from './helpers/harness';

describe('app', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
  });
  afterAll(async () => {
    await plaid?.close();
    await t?.close();
  });
  const harness = () => createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-app') });

  it('echoes a sane X-Request-Id, generates one otherwise, and logs with it', async () => {
    const h = harness();
    const given = await h.app.request('/healthz', { headers: { 'x-request-id': 'req-abc.123' } });
    expect(given.headers.get('x-request-id')).toBe('req-abc.123');
    expect(h.logs.some((l) => l.includes('"request_id":"req-abc.123"'))).toBe(true);
    const generated = await h.app.request('/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const onError = await h.app.request('/nope');
    expect(onError.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sets secure headers', async () => {
    const res = await harness().app.request('/healthz');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('strict-transport-security')).toContain('max-age');
  });

  it('answers unknown routes and methods with the JSON error shape', async () => {
    const h = harness();
    for (const [method, path] of [
      ['GET', '/nope'],
      ['GET', '/webhooks/plaid'],
      ['DELETE', '/link/sessions'],
    ] as const) {
      const res = await h.app.request(path, {
        method,
        headers: { authorization: 'Bearer test-api-key-0123456789abcdef' },
      });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
    }
  });

  it('/healthz reports Temporal reachability; /readyz is 503 without Temporal', async () => {
    const h = harness();
    const res = await h.app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, temporal: 'reachable' });
    expect((await h.app.request('/readyz')).status).toBe(200);

    const connection = Connection.lazy({ address: '127.0.0.1:1' });
    try {
      const down = createHarness({
        t,
        plaid,
        taskQueue: uniqueTaskQueue('api-app'),
        client: new Client({ connection, namespace: t.namespace }),
      });
      const live = await down.app.request('/healthz');
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ ok: true, temporal: 'unreachable' });
      const ready = await down.app.request('/readyz');
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('TEMPORAL_UNAVAILABLE');
    } finally {
      await connection.close();
    }
  });

  it('/metrics serves Prometheus text with the API’s metrics', async () => {
    const h = harness();
    await h.app.request('/healthz');
    await h.app.request('/webhooks/plaid', { method: 'POST', body: '{}' });
    const res = await h.app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE linkflow_webhooks_total counter');
    expect(text).toContain('# TYPE linkflow_signal_latency_seconds histogram');
    expect(text).toContain('linkflow_webhook_verification_failures_total{reason="missing_header"} 1');
    expect(text).toContain('linkflow_http_requests_total{method="GET",route="/healthz",status="200"} 1');
    expect(text).toContain(
      'linkflow_http_requests_total{method="POST",route="/webhooks/plaid",status="401"} 1',
    );
  });

  it('/openapi.json describes every contract route from the zod schemas', async () => {
    const res = await harness().app.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /link/sessions',
        'GET /link/sessions',
        'GET /link/sessions/{session_id}',
        'POST /link/sessions/{session_id}/payment-account',
        'POST /webhooks/plaid',
        'POST /codec/encode',
        'POST /codec/decode',
        'GET /healthz',
        'GET /metrics',
        'GET /openapi.json',
        'GET /docs',
      ]),
    );
    const create = doc.paths['/link/sessions']?.post?.requestBody?.content['application/json']?.schema as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, unknown>;
    };
    expect(create.required).toEqual(['client_user_id']);
    expect(create.additionalProperties).toBe(false);
    expect(Object.keys(create.properties)).toEqual(
      expect.arrayContaining([
        'client_user_id',
        'products',
        'optional_products',
        'country_codes',
        'language',
        'client_name',
        'redirect_uri',
        'payment',
      ]),
    );
  });

  it('/docs is a self-contained page (no CDN) with a try-it form', async () => {
    const h = harness();
    const res = await h.app.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).toContain('<form id="try">');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)/);
    const script = await h.app.request('/docs/app.js');
    expect(script.status).toBe(200);
    expect(await script.text()).toContain("fetch('/openapi.json')");
  });
});
