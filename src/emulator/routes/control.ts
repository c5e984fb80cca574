/**
 * Control routes under `/__emulator`, outside Plaid's namespace: they play the end user, move the
 * clock, inject faults and expose what happened. Errors use Plaid's error body too, so one parser
 * reads everything the emulator says.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail, isKnownErrorCode, PLAID_ERRORS, PlaidApiError } from '../errors';
import { catalogueView } from '../fixtures';
import { newRequestId } from '../ids';
import { completeLink } from '../linkFlow';
import { plaidErrorResponse } from '../plaidRouter';
import { resetState, stateView } from '../state';
import { parseWithPlaidErrors } from '../validation';

const completeSchema = z.strictObject({
  link_token: z.string().min(1),
  institutions: z.array(z.string().min(1)).optional(),
  status: z.enum(['SUCCESS', 'EXITED']).optional(),
  webhooks: z
    .strictObject({
      drop: z.union([z.literal(true), z.literal(false), z.number().min(0).max(1)]).optional(),
      duplicate: z.int().min(1).max(100).optional(),
      shuffle: z.boolean().optional(),
      delay_ms: z.int().min(0).max(3_600_000).optional(),
    })
    .optional(),
});

const clockSchema = z.strictObject({ advance_ms: z.int().min(0) });
const expireSchema = z.strictObject({ public_token: z.string().min(1) });
const faultSchema = z.strictObject({
  path: z.string().startsWith('/'),
  error_code: z.string().min(1),
  times: z.int().min(1).optional(),
  http_status: z.int().min(400).max(599).optional(),
});

export interface ControlDeps {
  ctx: EmulatorContext;
  /** Paths of the emulated Plaid routes, the only ones faults can target. */
  plaidPaths: ReadonlySet<string>;
  reset: () => void;
}

export function registerControlRoutes(app: Hono, deps: ControlDeps): void {
  const { ctx } = deps;

  const control = <S extends z.ZodType>(path: string, schema: S, handler: (input: z.infer<S>) => unknown) => {
    app.post(path, async (c) => {
      const requestId = newRequestId();
      try {
        const input = parseWithPlaidErrors(schema, await readControlBody(c));
        return c.json((await handler(input)) as object, 200);
      } catch (err) {
        return plaidErrorResponse(c, ctx, err, requestId, path);
      }
    });
  };

  app.get('/__emulator/institutions', (c) => c.json(catalogueView()));

  app.get('/__emulator/state', (c) => c.json(stateView(ctx.state)));

  control('/__emulator/link/complete', completeSchema, (input) => completeLink(ctx, input));

  control('/__emulator/clock', clockSchema, (input) => {
    ctx.state.clock_offset_ms += input.advance_ms;
    ctx.changed();
    return { now: ctx.iso(), offset_ms: ctx.state.clock_offset_ms };
  });

  control('/__emulator/public_token/expire', expireSchema, (input) => {
    const record = ctx.state.public_tokens[input.public_token];
    if (!record) throw new PlaidApiError('INVALID_PUBLIC_TOKEN');
    record.expires_at = Math.min(record.expires_at, ctx.now());
    ctx.changed();
    return { public_token: record.public_token, expires_at: ctx.iso(record.expires_at) };
  });

  control('/__emulator/webhook_key/rotate', z.looseObject({}), async () => {
    const { expired, current } = await ctx.keys.rotate();
    ctx.changed();
    return { expired_kid: expired.kid, expired_at: expired.expired_at, kid: current.kid };
  });

  control('/__emulator/faults', faultSchema, (input) => {
    if (!deps.plaidPaths.has(input.path)) {
      throw fail.invalidField(
        `path must be one of the emulated Plaid routes: ${[...deps.plaidPaths].join(', ')}`,
      );
    }
    if (!isKnownErrorCode(input.error_code)) {
      throw fail.invalidField(`error_code must be one of: ${Object.keys(PLAID_ERRORS).join(', ')}`);
    }
    const times = input.times ?? 1;
    ctx.state.faults.push({
      path: input.path,
      error_code: input.error_code,
      remaining: times,
      http_status: input.http_status ?? null,
    });
    ctx.changed();
    const spec = PLAID_ERRORS[input.error_code];
    return {
      path: input.path,
      error_code: input.error_code,
      error_type: spec?.type,
      http_status: input.http_status ?? spec?.status,
      times,
    };
  });

  app.post('/__emulator/reset', (c: Context) => {
    deps.reset();
    return c.json({ reset: true });
  });
}

/** Control routes are also driven by hand (curl), so an empty body or a missing content type is fine. */
async function readControlBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new PlaidApiError('INVALID_BODY');
  }
}

/** Forgets everything but the catalogue, the signing keys and the id sequence position. */
export function resetEmulator(ctx: EmulatorContext): void {
  ctx.webhooks.cancelAll();
  resetState(ctx.state);
  ctx.changed();
}
