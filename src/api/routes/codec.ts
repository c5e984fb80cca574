/**
 * Temporal's remote codec protocol for the Temporal UI (and `temporal --codec-endpoint`):
 * `POST /codec/encode|decode` with `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`,
 * answered in the same shape, through the injected PayloadCodec.
 *
 * Access: the API key or the codec token as a bearer token; on the embedded default only, a
 * browser request from the UI's origin without one (the UI sends no credentials). Origin alone is
 * no proof outside a browser, which is why that exception exists only when the API listens on
 * loopback next to an embedded Temporal.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Hono } from 'hono';
import { readJson } from '../body';
import { ApiError } from '../errors';
import { hasValidToken, unauthorized } from '../middleware/auth';
import { limitBody } from '../middleware/bodyLimit';
import { uiCors } from '../middleware/uiCors';
import { codecBodySchema } from '../schemas';
import type { AppEnv } from '../types';

export interface CodecRoutesDeps {
  codec: PayloadCodec;
  apiKey: string;
  codecToken?: string | null;
  uiOrigins: string[];
  allowUiOriginWithoutKey: boolean;
  maxBodyBytes: number;
}

interface WirePayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

const fromBase64 = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, 'base64'));
const toBase64 = (bytes: Uint8Array | null | undefined): string =>
  bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : '';

export function fromWire(payload: WirePayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, fromBase64(v)])),
    data: fromBase64(payload.data ?? ''),
  };
}

export function toWire(payload: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, toBase64(v)])),
    data: toBase64(payload.data),
  };
}

export function codecRoutes(deps: CodecRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const uiOrigins = new Set(deps.uiOrigins);

  app.use('/codec/*', uiCors(deps.uiOrigins));
  app.use('/codec/*', async (c, next) => {
    const origin = c.req.header('origin');
    const fromUi = deps.allowUiOriginWithoutKey && origin !== undefined && uiOrigins.has(origin);
    if (!fromUi && !hasValidToken(c, [deps.apiKey, deps.codecToken])) throw unauthorized();
    await next();
  });
  app.use('/codec/*', limitBody(deps.maxBodyBytes));

  for (const direction of ['encode', 'decode'] as const) {
    app.post(`/codec/${direction}`, async (c) => {
      const { payloads } = await readJson(c, codecBodySchema);
      let out: Payload[];
      try {
        out = await deps.codec[direction](payloads.map(fromWire));
      } catch (err) {
        c.var.log.warn({ err, namespace: c.req.header('x-namespace') }, `codec ${direction} failed`);
        throw new ApiError(400, 'CODEC_FAILED', `could not ${direction} the payloads`);
      }
      return c.json({ payloads: out.map(toWire) });
    });
  }
  return app;
}
