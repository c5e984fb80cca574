/** The codec server for the Temporal UI: protocol, CORS, and who may call it. */
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, createHarness, toyCodec, UI_ORIGIN } from './helpers/harness';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const wire = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data ?? new Uint8Array()),
});

describe('codec server', () => {
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

  const harness = (keylessDemo: boolean, codecToken?: string) =>
    createHarness({
      t,
      plaid,
      taskQueue: uniqueTaskQueue('api-codec'),
      config: { keylessDemo, ...(codecToken && { codecToken }) },
    });
  const call = (
    h: ReturnType<typeof harness>,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    h.app.request(path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    });

  it('decodes a payload encoded with the codec, and encodes one the codec decodes', async () => {
    const h = harness(false);
    const plain = defaultPayloadConverter.toPayload({ public_token: 'public-sandbox-123', n: 1 });
    const [encoded] = await toyCodec.encode([plain]);
    const res = await call(
      h,
      '/codec/decode',
      { payloads: [wire(encoded as typeof plain)] },
      {
        authorization: `Bearer ${API_KEY}`,
      },
    );
    expect(res.status).toBe(200);
    const { payloads } = (await res.json()) as {
      payloads: Array<{ metadata: Record<string, string>; data: string }>;
    };
    expect(payloads).toEqual([wire(plain)]);
    expect(JSON.parse(Buffer.from(payloads[0]?.data as string, 'base64').toString())).toEqual({
      public_token: 'public-sandbox-123',
      n: 1,
    });

    const enc = await call(
      h,
      '/codec/encode',
      { payloads: [wire(plain)] },
      { authorization: `Bearer ${API_KEY}` },
    );
    expect(enc.status).toBe(200);
    const encodedBack = ((await enc.json()) as { payloads: ReturnType<typeof wire>[] }).payloads[0];
    expect(encodedBack?.metadata.encoding).toBe(b64(new TextEncoder().encode('binary/toy')));
    expect(encodedBack?.data).toBe(wire(encoded as typeof plain).data);
  });

  it('answers the UI origin’s preflight with CORS headers, without a key', async () => {
    const h = harness(false);
    const res = await h.app.request('/codec/decode', {
      method: 'OPTIONS',
      headers: {
        origin: UI_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-namespace',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, x-namespace, authorization');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('refuses another origin (403, no CORS headers), even with the key and on preflight', async () => {
    const h = harness(true);
    const inits: RequestInit[] = [
      {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      },
      {
        method: 'POST',
        body: JSON.stringify({ payloads: [] }),
        headers: {
          origin: 'https://evil.example',
          authorization: `Bearer ${API_KEY}`,
          'content-type': 'application/json',
        },
      },
      {
        method: 'POST',
        body: '{"payloads":[]}',
        headers: { origin: 'null', 'content-type': 'application/json' },
      },
    ];
    for (const init of inits) {
      const res = await h.app.request('/codec/decode', init);
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ORIGIN_NOT_ALLOWED');
    }
  });

  it('always needs a credential: a forged UI Origin gets 403, even where /demo is key-less (issue 17)', async () => {
    const plain = wire(defaultPayloadConverter.toPayload('x'));
    for (const h of [harness(false), harness(true), harness(true, 'codec-token-0123456789')]) {
      expect((await call(h, '/codec/encode', { payloads: [plain] })).status).toBe(401);
      for (const origin of [UI_ORIGIN, 'http://127.0.0.1:8233']) {
        const forged = await call(h, '/codec/decode', { payloads: [plain] }, { origin });
        expect(forged.status).toBe(403);
        expect(((await forged.json()) as { error: { code: string } }).error.code).toBe(
          'CODEC_CREDENTIAL_REQUIRED',
        );
        // The UI can read the refusal.
        expect(forged.headers.get('access-control-allow-origin')).toBe(origin);
      }
    }
  });

  it('takes the API key or the codec token as a bearer token, or the codec token in the UI endpoint path', async () => {
    const h = harness(false, 'codec-token-for-the-cli');
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    expect((await call(h, '/codec/decode', { payloads: [] }, bearer('codec-token-for-the-cli'))).status).toBe(
      200,
    );
    expect((await call(h, '/codec/decode', { payloads: [] }, bearer(API_KEY))).status).toBe(200);
    expect((await call(h, '/codec/decode', { payloads: [] }, bearer('codec-token-for-the-clX'))).status).toBe(
      401,
    );

    const ui = await call(
      h,
      '/codec/ui/codec-token-for-the-cli/decode',
      { payloads: [] },
      { origin: UI_ORIGIN },
    );
    expect(ui.status).toBe(200);
    expect(ui.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect((await call(h, '/codec/ui/codec-token-for-the-cli/encode', { payloads: [] })).status).toBe(200);
    for (const path of ['/codec/ui/wrong-token-for-the-cli/decode', `/codec/ui/${API_KEY}/decode`]) {
      expect((await call(h, path, { payloads: [] }, { origin: UI_ORIGIN })).status).toBe(403);
    }
    // Without a codec token configured, no path token opens it.
    expect((await call(harness(false), '/codec/ui/anything/decode', { payloads: [] })).status).toBe(401);
    // The token in the path never reaches the logs.
    expect(h.logs.join('\n')).not.toContain('codec-token-for-the-cli');
    expect(h.logs.join('\n')).toContain('/codec/ui/:token/decode');
  });

  it('400 for a malformed body or payloads the codec cannot decode', async () => {
    const h = harness(false);
    const auth = { authorization: `Bearer ${API_KEY}` };
    expect((await call(h, '/codec/decode', { nope: 1 }, auth)).status).toBe(400);
    expect((await call(h, '/codec/decode', { payloads: [{ data: '***' }] }, auth)).status).toBe(400);
    const res = await call(
      h,
      '/codec/decode',
      { payloads: [wire(defaultPayloadConverter.toPayload('plain'))] },
      auth,
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CODEC_FAILED');
  });
});
