/**
 * Control routes under `/__emulator`, outside Plaid's namespace: they play the end user, move the
 * clock, inject faults and expose what happened. Errors use Plaid's error body too, so one parser
 * reads everything the emulator says.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { PlaidApiError } from '../errors';
import { addFault, faultSchema } from '../faults';
import { catalogueView } from '../fixtures';
import { newRequestId } from '../ids';
import { completeLink } from '../linkFlow';
import { plaidErrorResponse } from '../plaidRouter';
import { resetState, stateView } from '../state';
import { parseWithPlaidErrors } from '../validation';
import { registerLinkSessionControl, webhookFaultsSchema } from './linkSessionControl';

const completeSchema = z.strictObject({
  link_token: z.string().min(1),
  institutions: z.array(z.string().min(1)).optional(),
  status: z.enum(['SUCCESS', 'EXITED']).optional(),
  webhooks: webhookFaultsSchema.optional(),
});

const clockSchema = z.strictObject({ advance_ms: z.int().min(0) });
const expireSchema = z.strictObject({ public_token: z.string().min(1) });

export interface ControlDeps {
  ctx: EmulatorContext;
  /** Paths of the emulated Plaid routes, the only ones faults can target. */
  plaidPaths: ReadonlySet<string>;
  reset: () => void;
}

export type ControlRoute = <S extends z.ZodType>(
  path: string,
  schema: S,
  handler: (input: z.infer<S>, c: Context) => unknown,
) => void;

/**
 * Registers POST control routes: the body validated with Plaid's error vocabulary, and the state
 * made durable before the answer (a refused call changes nothing, so there is nothing to write).
 */
export function controlRoutes(app: Hono, ctx: EmulatorContext): ControlRoute {
  return (path, schema, handler) => {
    app.post(path, async (c) => {
      const requestId = newRequestId();
      try {
        const input = parseWithPlaidErrors(schema, await readControlBody(c));
        const result = await handler(input, c);
        await ctx.commit();
        return c.json(result as object, 200);
      } catch (err) {
        return plaidErrorResponse(c, ctx, err, requestId, path);
      }
    });
  };
}

export function registerControlRoutes(app: Hono, deps: ControlDeps): void {
  const { ctx } = deps;
  const control = controlRoutes(app, ctx);

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

  control('/__emulator/faults', faultSchema, (input) => addFault(ctx, deps.plaidPaths, input));

  registerLinkSessionControl(control, ctx);

  app.post('/__emulator/reset', async (c: Context) => {
    deps.reset();
    await ctx.commit();
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
