/**
 * The API server's own limits (issue 17, finding 5): a slow body is cut at the configured request
 * timeout and the connection count is capped, over real HTTP; session creation is rate-limited per
 * caller; `/metrics` takes a token when one is configured.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, serveApp } from '../../src/api/server';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, createHarness } from './helpers/harness';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with what the server sent once it closed the connection. */
function closed(socket: Socket): Promise<string> {
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString();
  });
  return new Promise((resolve) => socket.once('close', () => resolve(received)));
}

describe('API server limits', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    await plaid?.close();
    await t?.close();
  });

  const harness = (config = {}) =>
    createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-limits'), config });
  const serve = async (limits: Parameters<typeof serveApp>[1] extends infer O ? Partial<O> : never) => {
    const server = await serveApp(harness().app, { hostname: '127.0.0.1', port: 0, ...limits });
    servers.push(server);
    return server;
  };

  it('cuts a body sent a byte at a time at the request timeout (408), not minutes later', async () => {
    const server = await serve({ requestTimeoutMs: 1_500, headersTimeoutMs: 1_000 });
    const socket = await open(server.port);
    const done = closed(socket);
    const started = Date.now();
    socket.write(
      'POST /webhooks/plaid HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{',
    );
    // A byte every 200 ms keeps any idle timeout from firing: only the whole-request bound can.
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 200);
    const answer = await done.finally(() => clearInterval(drip));
    const heldMs = Date.now() - started;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(heldMs).toBeGreaterThanOrEqual(1_400);
    expect(heldMs).toBeLessThan(10_000); // Node's default would have held it 300 s
  });

  it('cuts headers that never end at the headers timeout', async () => {
    const server = await serve({ requestTimeoutMs: 5_000, headersTimeoutMs: 800 });
    const socket = await open(server.port);
    const done = closed(socket);
    const started = Date.now();
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => {
      if (!socket.destroyed) socket.write('X-Slow: 1\r\n');
    }, 150);
    const answer = await done.finally(() => clearInterval(drip));
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('closes connections past the cap on arrival', async () => {
    const server = await serve({ maxConnections: 2 });
    const held = [await open(server.port), await open(server.port)];
    // Both are accepted: each answers a request.
    const extra = await open(server.port);
    const answer = await closed(extra);
    expect(answer).toBe('');
    for (const s of held) s.destroy();
    // Room again once the server has seen them go (asked again until then, bounded).
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await fetch(`${server.url}/healthz`).then(
        (r) => r.status,
        () => new Promise<number>((r) => setTimeout(() => r(0), 50)),
      );
    }
    expect(status).toBe(200);
  });

  it('rate-limits session creation per caller: 429 with Retry-After past the limit', async () => {
    const h = harness({ sessionRateLimit: { limit: 2, windowMs: 60_000 } });
    const create = () => h.json('/link/sessions', { client_user_id: `limited-${Math.random()}` });
    expect((await create()).status).toBe(201);
    expect((await create()).status).toBe(201);
    const refused = await create();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // Reading is not creating.
    expect((await h.authed('/link/sessions?client_user_id=someone')).status).toBe(200);
  });

  it('serves /metrics anonymously by default, and only with the token when LINKFLOW_METRICS_TOKEN is set', async () => {
    expect((await harness().app.request('/metrics')).status).toBe(200);
    const h = harness({ metricsToken: 'metrics-token-0123456789' });
    expect((await h.app.request('/metrics')).status).toBe(401);
    expect((await h.authed('/metrics')).status).toBe(401); // the API key is not the metrics token
    const ok = await h.app.request('/metrics', {
      headers: { authorization: 'Bearer metrics-token-0123456789' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('linkflow_');
    expect(API_KEY).not.toBe('metrics-token-0123456789');
  });
});
