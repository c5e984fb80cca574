/** The app over real HTTP (serveApp), and the API configuration derived from the environment. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiConfigFromEnv, isLoopbackHost } from '../../src/api/config';
import { type RunningServer, serveApp } from '../../src/api/server';
import { loadEnv } from '../../src/config/env';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { createHarness } from './helpers/harness';

describe('serveApp', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  let server: RunningServer;
  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
    server = await serveApp(createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-http') }).app, {
      hostname: '127.0.0.1',
      port: 0,
    });
  });
  afterAll(async () => {
    await server?.close();
    await plaid?.close();
    await t?.close();
  });

  it('serves the API over HTTP', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, temporal: 'reachable' });
  });

  it('refuses an oversized webhook by Content-Length before reading it', async () => {
    const res = await fetch(`${server.url}/webhooks/plaid`, {
      method: 'POST',
      body: 'x'.repeat(65 * 1024),
      headers: { 'content-type': 'application/json', 'plaid-verification': 'a.b.c' },
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses an oversized chunked webhook (no Content-Length) while streaming it', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${server.url}/webhooks/plaid`, {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { 'content-type': 'application/json', 'plaid-verification': 'a.b.c' },
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('apiConfigFromEnv', () => {
  it('derives the webhook URL and timing from the environment, and never the key-less /demo (issue 17)', () => {
    // Loopback HOST and no TEMPORAL_ADDRESS: also what `npm run api` with a Temporal profile looks like.
    const loopback = apiConfigFromEnv(loadEnv({}), { apiKey: 'k'.repeat(20) });
    expect(loopback).toMatchObject({
      webhookUrl: 'http://127.0.0.1:3000/webhooks/plaid',
      verifyWebhooks: true,
      uiOrigins: ['http://localhost:8233', 'http://127.0.0.1:8233'],
      keylessDemo: false,
      timing: { pollAfterMs: 300_000, pollEveryMs: 60_000 },
    });
    // Only npm start's composition says so, explicitly.
    expect(apiConfigFromEnv(loadEnv({}), { apiKey: 'k'.repeat(20), keylessDemo: true }).keylessDemo).toBe(
      true,
    );
    const remote = apiConfigFromEnv(
      loadEnv({ TEMPORAL_ADDRESS: 'temporal:7233', PLAID_VERIFY_WEBHOOKS: 'false' }),
      {
        apiKey: 'k'.repeat(20),
        uiOrigins: ['https://cloud.temporal.io'],
      },
    );
    expect(remote).toMatchObject({
      keylessDemo: false,
      verifyWebhooks: false,
      uiOrigins: ['https://cloud.temporal.io'],
    });
    // npm run cluster: Temporal on loopback does not make the API key-less (the UI server reaches
    // the codec through its token path instead).
    expect(
      apiConfigFromEnv(loadEnv({ TEMPORAL_ADDRESS: '127.0.0.1:7233' }), { apiKey: 'k'.repeat(20) })
        .keylessDemo,
    ).toBe(false);
    expect(
      apiConfigFromEnv(loadEnv({ HOST: '0.0.0.0', PORT: '8080' }), { apiKey: 'k'.repeat(20) }),
    ).toMatchObject({
      webhookUrl: 'http://127.0.0.1:8080/webhooks/plaid',
      keylessDemo: false,
    });
  });

  it('knows loopback hosts', () => {
    expect(['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].some(isLoopbackHost)).toBe(false);
  });
});
