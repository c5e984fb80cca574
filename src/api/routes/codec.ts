/**
 * Temporal's remote codec protocol for the Temporal UI (and `temporal --codec-endpoint`):
 * `POST /codec/encode|decode` with `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`,
 * answered in the same shape, through the injected PayloadCodec.
 *
 * Access always takes a credential: the API key or the codec token as a bearer token (the CLI's
 * `--codec-auth`), or the codec token as the path of the UI's endpoint, `/codec/ui/<token>/decode`
 * (the Temporal UI sends no credentials of its own, so its configured endpoint carries one: the
 * dev server's `--ui-codec-endpoint`, the UI server's `TEMPORAL_CODEC_ENDPOINT`). `Origin` is only
 * a browser's word, which curl forges at will: it decides CORS, never access.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { type Context, Hono } from 'hono';
import { readJson } from '../body';
import { ApiError } from '../errors';
import { hasValidToken, tokensEqual, unauthorized } from '../middleware/auth';
import { limitBody } from '../middleware/bodyLimit';
import { uiCors } from '../middleware/uiCors';
import { codecBodySchema } from '../schemas';
import type { AppEnv } from '../types';

export interface CodecRoutesDeps {
  codec: PayloadCodec;
  apiKey: string;
  codecToken?: string | null;
  uiOrigins: string[];
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
  const codecToken = deps.codecToken ?? null;

  app.use('/codec/*', uiCors(deps.uiOrigins));
  app.use('/codec/*', async (c, next) => {
    const pathToken = /^\/codec\/ui\/([^/]+)\/(?:en|de)code$/.exec(c.req.path)?.[1];
    const ok =
      pathToken !== undefined
        ? codecToken !== null && tokensEqual(decodeURIComponent(pathToken), codecToken)
        : hasValidToken(c, [deps.apiKey, codecToken]);
    if (ok) return next();
    // A browser-style request without a credential is a forged or misconfigured UI: refused.
    if (c.req.header('origin') !== undefined)
      throw new ApiError(
        403,
        'CODEC_CREDENTIAL_REQUIRED',
        'the codec needs a credential, whatever the Origin',
      );
    throw unauthorized();
  });
  app.use('/codec/*', limitBody(deps.maxBodyBytes));

  for (const direction of ['encode', 'decode'] as const) {
    const handler = async (c: Context<AppEnv>) => {
      const { payloads } = await readJson(c, codecBodySchema);
      let out: Payload[];
      try {
        out = await deps.codec[direction](payloads.map(fromWire));
      } catch (err) {
        c.var.log.warn({ err, namespace: c.req.header('x-namespace') }, `codec ${direction} failed`);
        throw new ApiError(400, 'CODEC_FAILED', `could not ${direction} the payloads`);
      }
      return c.json({ payloads: out.map(toWire) });
    };
    app.post(`/codec/${direction}`, handler);
    app.post(`/codec/ui/:token/${direction}`, handler);
  }
  return app;
}
