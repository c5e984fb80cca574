/**
 * `/user/create` in both of Plaid's flavours:
 *  - the new user API (integrations since December 2025): returns a `usr_…` `user_id` only, and
 *    is idempotent per `client_user_id` (201 when created, 200 with the same id afterwards);
 *  - the legacy user API: returns a `user_token` beside an unprefixed `user_id`, and a second call
 *    with the same `client_user_id` fails.
 * Which one answers: the `Plaid-New-User-API-Enabled: true` header or `with_upgraded_user: true`
 * opt into the new API (as at Plaid); otherwise the client id's configuration decides.
 */
import type { UserCreateResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail, PlaidApiError } from '../errors';
import type { PlaidCall, PlaidRouter } from '../plaidRouter';
import type { UserApi, UserRecord } from '../state';
import { nonEmpty } from '../validation';

const userCreateSchema = z.strictObject({
  client_user_id: nonEmpty().max(128),
  identity: z.unknown().optional(),
  end_customer: z.string().optional(),
  consumer_report_user_identity: z.unknown().optional(),
  with_upgraded_user: z.boolean().optional(),
});

export function userApiFor(
  ctx: EmulatorContext,
  clientId: string,
  call: PlaidCall,
  upgraded: boolean,
): UserApi {
  if (upgraded || call.headers.get('Plaid-New-User-API-Enabled')?.toLowerCase() === 'true') return 'new';
  if (ctx.opts.legacyClientIds.has(clientId)) return 'legacy';
  return ctx.opts.userApi;
}

export function findUserByClientUserId(
  ctx: EmulatorContext,
  clientId: string,
  clientUserId: string,
): UserRecord | undefined {
  return Object.values(ctx.state.users).find(
    (u) => u.client_id === clientId && u.client_user_id === clientUserId,
  );
}

export function findUserById(ctx: EmulatorContext, clientId: string, userId: string): UserRecord | undefined {
  const u = ctx.state.users[userId];
  return u && u.client_id === clientId ? u : undefined;
}

export function findUserByToken(
  ctx: EmulatorContext,
  clientId: string,
  userToken: string,
): UserRecord | undefined {
  return Object.values(ctx.state.users).find((u) => u.client_id === clientId && u.user_token === userToken);
}

export function registerUserRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/user/create', userCreateSchema, (input, call) => {
    const api = userApiFor(ctx, call.clientId, call, input.with_upgraded_user === true);
    const existing = findUserByClientUserId(ctx, call.clientId, input.client_user_id);

    if (api === 'new') {
      if (existing) {
        const body: UserCreateResponse = { user_id: existing.user_id, request_id: call.requestId };
        return { status: 200, body };
      }
      const user = addUser(ctx, call.clientId, input.client_user_id, 'new');
      const body: UserCreateResponse = { user_id: user.user_id, request_id: call.requestId };
      return { status: 201, body };
    }

    if (existing) {
      throw fail.invalidField(
        `a user has already been created for the given client_user_id: ${input.client_user_id}`,
      );
    }
    const user = addUser(ctx, call.clientId, input.client_user_id, 'legacy');
    const body: UserCreateResponse = {
      user_token: user.user_token ?? undefined,
      user_id: user.user_id,
      request_id: call.requestId,
    };
    return { body };
  });
}

function addUser(ctx: EmulatorContext, clientId: string, clientUserId: string, api: UserApi): UserRecord {
  const user: UserRecord =
    api === 'new'
      ? {
          user_id: `usr_${ctx.rng.base62(14)}`,
          client_id: clientId,
          client_user_id: clientUserId,
          user_token: null,
          api,
          created_at: ctx.now(),
        }
      : {
          user_id: ctx.rng.base62(29),
          client_id: clientId,
          client_user_id: clientUserId,
          user_token: `user-sandbox-${ctx.rng.uuid()}`,
          api,
          created_at: ctx.now(),
        };
  ctx.state.users[user.user_id] = user;
  ctx.changed();
  return user;
}

/** Kept here so link token creation reports user mismatches with one vocabulary. */
export const userErrors = {
  unknownUserId: () => new PlaidApiError('INVALID_USER_ID', { message: 'could not find matching user_id' }),
  malformedUserId: () => new PlaidApiError('INVALID_USER_ID'),
  unknownUserToken: () => new PlaidApiError('INVALID_USER_TOKEN'),
};
