/**
 * Control routes under `/__emulator`, outside Plaid's namespace: they play the end user, move the
 * clock, inject faults and expose what happened. Errors use Plaid's error body too, so one parser
 * reads everything the emulator says.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { completeAuthFlow, verifyInLink } from '../authFlows';
import type { EmulatorContext } from '../context';
import { fail, PlaidApiError } from '../errors';
import { addFault, faultSchema } from '../faults';
import { catalogueView } from '../fixtures';
import { newRequestId } from '../ids';
import { completeLink } from '../linkFlow';
import { plaidErrorResponse } from '../plaidRouter';
import { resetState, stateView } from '../state';
import { parseWithPlaidErrors } from '../validation';
import { expireAutomatedMicrodeposits, settleAutomatedVerification } from '../verification';
import { registerLinkSessionControl, webhookFaultsSchema } from './linkSessionControl';

const completeSchema = z.strictObject({
  link_token: z.string().min(1),
  institutions: z.array(z.string().min(1)).optional(),
  status: z.enum(['SUCCESS', 'EXITED']).optional(),
  webhooks: webhookFaultsSchema.optional(),
  auth_flow: z
    .enum(['instant', 'same_day_microdeposits', 'automated_microdeposits', 'database_auth'])
    .optional(),
  account: z
    .strictObject({
      routing: z.string().optional(),
      account: z.string().optional(),
      name: z.string().optional(),
      subtype: z.enum(['checking', 'savings']).optional(),
    })
    .optional(),
  verification_code: z.string().min(1).optional(),
});

const verificationSchema = z.strictObject({
  account_id: z.string().min(1).optional(),
  status: z.enum(['automatically_verified', 'verification_expired']),
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

  control('/__emulator/link/complete', completeSchema, async (input) => {
    const { auth_flow, account, verification_code, ...rest } = input;
    if (verification_code !== undefined) {
      // The user types the micro-deposit code in Link opened in update mode.
      if (
        auth_flow !== undefined ||
        account !== undefined ||
        rest.institutions !== undefined ||
        rest.status !== undefined
      ) {
        throw fail.invalidField(
          'verification_code completes a manual verification: send only link_token, verification_code and webhooks',
        );
      }
      const { outcome, error } = verifyInLink(ctx, {
        link_token: input.link_token,
        verification_code,
        webhooks: rest.webhooks,
      });
      if (error) {
        // A wrong code uses up an attempt: durable before the error is answered.
        await ctx.commit();
        throw error;
      }
      return outcome;
    }
    if (auth_flow !== undefined && auth_flow !== 'instant') {
      if (rest.status !== undefined && rest.status !== 'SUCCESS') {
        throw fail.invalidField(`${auth_flow} completes with status SUCCESS; to leave Link, omit auth_flow`);
      }
      return completeAuthFlow(ctx, {
        link_token: input.link_token,
        auth_flow,
        institutions: rest.institutions,
        account,
        webhooks: rest.webhooks,
      });
    }
    if (account !== undefined) throw fail.invalidField('account is typed only in a non-credential auth_flow');
    return completeLink(ctx, rest);
  });

  control('/__emulator/items/:item_id/verification', verificationSchema, (input, c) => {
    const itemId = c.req.param('item_id') ?? '';
    const item = ctx.state.items[itemId];
    if (!item || item.removed_at !== null) throw new PlaidApiError('ITEM_NOT_FOUND');
    const account = settleAutomatedVerification(ctx, item, input.account_id, input.status);
    return {
      item_id: item.item_id,
      account_id: account.account_id,
      verification_status: account.verification_status,
    };
  });

  control('/__emulator/clock', clockSchema, (input) => {
    ctx.state.clock_offset_ms += input.advance_ms;
    ctx.changed();
    // Automated micro-deposits not verified within 7 days expire now, with their AUTH webhook.
    const expired = expireAutomatedMicrodeposits(ctx);
    return {
      now: ctx.iso(),
      offset_ms: ctx.state.clock_offset_ms,
      ...(expired > 0 ? { verifications_expired: expired } : {}),
    };
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
