/**
 * Webhooks about an Item (not a Link session): sent to the Item's webhook URL, signed and retried
 * like every other webhook, starting once the call that produced them is durable.
 */
import { WebhookEnvironmentValues } from 'plaid';
import type { EmulatorContext } from './context';
import { type ItemRecord, pendingDelivery } from './state';

export interface ItemWebhookBody {
  webhook_type: string;
  webhook_code: string;
  [field: string]: unknown;
}

/** Records one delivery to the Item's webhook; returns false when the Item has no webhook URL. */
export function sendItemWebhook(ctx: EmulatorContext, item: ItemRecord, body: ItemWebhookBody): boolean {
  if (!item.webhook) return false;
  const record = pendingDelivery(ctx.rng.uuid(), {
    url: item.webhook,
    body: { ...body, item_id: item.item_id, environment: WebhookEnvironmentValues.Sandbox },
    webhook_code: body.webhook_code,
    link_token: item.link_token ?? '',
    link_session_id: item.link_session_id ?? '',
  });
  ctx.state.webhooks.push(record);
  ctx.changed();
  ctx.afterCommit(() => ctx.webhooks.startSequence([record], 0));
  return true;
}
