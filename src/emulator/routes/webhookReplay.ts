/**
 * `POST /__emulator/webhooks/replay { link_token, key?: "current" | "expired" }`: redelivers that
 * link token's webhooks now, each signed with the current signing key or with the most recently
 * rotated-out one, and answers `{ responses: [<receiver HTTP status>…] }` (0 when the receiver did
 * not answer). For verification tests: a receiver must refuse a webhook signed with a key Plaid has
 * expired, however long it had that key cached. Nothing in the state changes.
 */
import type { Context, Hono } from 'hono';
import { importJWK, SignJWT } from 'jose';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail, PlaidApiError } from '../errors';
import { newRequestId } from '../ids';
import { sha256Hex } from '../keys';
import { plaidErrorResponse } from '../plaidRouter';
import type { SigningKeyRecord } from '../state';
import { parseWithPlaidErrors } from '../validation';

const replaySchema = z.strictObject({
  link_token: z.string().min(1),
  key: z.enum(['current', 'expired']).optional(),
});

const PATH = '/__emulator/webhooks/replay';

function signingKey(ctx: EmulatorContext, which: 'current' | 'expired'): SigningKeyRecord {
  if (which === 'current') return ctx.keys.current();
  const expired = ctx.state.signing_keys
    .filter((k) => k.expired_at !== null)
    .sort((a, b) => (a.expired_at ?? 0) - (b.expired_at ?? 0));
  const latest = expired[expired.length - 1];
  if (!latest)
    throw fail.invalidField('no signing key was rotated out yet: POST /__emulator/webhook_key/rotate');
  return latest;
}

async function sign(key: SigningKeyRecord, body: string): Promise<string> {
  return new SignJWT({ request_body_sha256: sha256Hex(body) })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuedAt(Math.floor(Date.now() / 1000))
    .sign(await importJWK(key.private_jwk, 'ES256'));
}

async function readBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new PlaidApiError('INVALID_BODY');
  }
}

export function registerWebhookReplayRoutes(app: Hono, ctx: EmulatorContext): void {
  app.post(PATH, async (c) => {
    const requestId = newRequestId();
    try {
      const input = parseWithPlaidErrors(replaySchema, await readBody(c));
      if (!ctx.state.link_tokens[input.link_token]) throw new PlaidApiError('INVALID_LINK_TOKEN');
      const key = signingKey(ctx, input.key ?? 'current');
      const responses: number[] = [];
      for (const record of ctx.state.webhooks.filter((w) => w.link_token === input.link_token)) {
        const body = JSON.stringify(record.body, null, 2);
        const res = await ctx.opts
          .fetch(record.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'plaid-verification': await sign(key, body) },
            body,
            signal: AbortSignal.timeout(ctx.opts.timeoutMs),
          })
          .then(async (r) => {
            await r.arrayBuffer().catch(() => undefined);
            return r.status;
          })
          .catch(() => 0);
        responses.push(res);
      }
      return c.json({ responses, kid: key.kid });
    } catch (err) {
      return plaidErrorResponse(c, ctx, err, requestId, PATH);
    }
  });
}
