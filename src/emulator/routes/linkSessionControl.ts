/**
 * Control routes that play a Link session step by step, as a person takes minutes over it:
 *   POST /__emulator/link/sessions                        { link_token }           → { link_session_id }
 *   POST /__emulator/link/sessions/:link_session_id/items  { institution_id, webhooks? }
 *                                                          → { public_token, item_id, institution, accounts }
 *   POST /__emulator/link/sessions/:link_session_id/finish { status, webhooks? }   → { public_tokens }
 */
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail } from '../errors';
import {
  addItem,
  findSession,
  finishSession,
  openSession,
  pickInstitution,
  scheduleLinkWebhooks,
  usableLinkToken,
} from '../linkSessions';
import type { ControlRoute } from './control';

/** Webhook faults for the deliveries one control call produces. */
export const webhookFaultsSchema = z.strictObject({
  drop: z.union([z.literal(true), z.literal(false), z.number().min(0).max(1)]).optional(),
  duplicate: z.int().min(1).max(100).optional(),
  shuffle: z.boolean().optional(),
  delay_ms: z.int().min(0).max(3_600_000).optional(),
});
const openSchema = z.strictObject({ link_token: z.string().min(1) });
const addSchema = z.strictObject({
  institution_id: z.string().min(1),
  webhooks: webhookFaultsSchema.optional(),
});
const finishSchema = z.strictObject({
  status: z.enum(['SUCCESS', 'EXITED']),
  webhooks: webhookFaultsSchema.optional(),
});

function sessionId(param: string | undefined): string {
  if (!param) throw fail.missingFields(['link_session_id']);
  return param;
}

export function registerLinkSessionControl(control: ControlRoute, ctx: EmulatorContext): void {
  control('/__emulator/link/sessions', openSchema, (input) => {
    const token = usableLinkToken(ctx, input.link_token);
    const session = openSession(ctx, token);
    return { link_session_id: session.link_session_id };
  });

  control('/__emulator/link/sessions/:link_session_id/items', addSchema, (input, c) => {
    const { token, session } = findSession(ctx, sessionId(c.req.param('link_session_id')));
    const inst = pickInstitution(token, input.institution_id);
    const { added, webhook } = addItem(ctx, token, session, inst);
    scheduleLinkWebhooks(ctx, token, [webhook], input.webhooks ?? {});
    return added;
  });

  control('/__emulator/link/sessions/:link_session_id/finish', finishSchema, (input, c) => {
    const { token, session } = findSession(ctx, sessionId(c.req.param('link_session_id')));
    const webhook = finishSession(ctx, token, session, input.status);
    scheduleLinkWebhooks(ctx, token, [webhook], input.webhooks ?? {});
    return {
      link_session_id: session.link_session_id,
      status: input.status,
      public_tokens: webhook.public_tokens,
    };
  });
}
