/**
 * The Items API's behaviour: Items as the customer's backend sees them, and their removal —
 * Plaid `/item/remove` first, then the stored secrets destroyed, then `item.removed` queued. A
 * Plaid failure changes nothing and says why; repeating a removal is harmless (and re-queues the
 * event under the same id, so a crash between removal and event loses nothing).
 */
import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import type { Logger } from '../observability/logger';
import { classifyPlaidError } from '../plaid/errors';
import type { ItemsStore, StoredItem } from '../store/items';
import { startEventDelivery } from '../temporal/startEventDelivery';
import type { EventRetryPolicy } from '../workflows/eventActivityTypes';
import { itemRemovedEvent } from '../workflows/events';
import type { HandoffPlaidApi } from './deps';
import { ApiError, isTemporalUnavailable } from './errors';
import type { itemViewSchema } from './handoffSchemas';

export type ItemView = z.infer<typeof itemViewSchema>;

/** Plaid's answers meaning the Item is already gone there (a removal repeated after a crash). */
const ALREADY_GONE = new Set(['ITEM_NOT_FOUND', 'INVALID_ACCESS_TOKEN']);

export function toItemView(item: StoredItem): ItemView {
  return {
    item_id: item.itemId,
    client_user_id: item.clientUserId,
    session_id: item.sessionId,
    institution: item.institution,
    accounts: item.accounts.map((a) => ({ ...a, verification_status: null })),
    products: item.products,
    status: item.status,
    error: item.error,
    created_at: item.createdAt,
    removed_at: item.removedAt,
  };
}

export interface ItemServiceDeps {
  store: ItemsStore;
  plaid: HandoffPlaidApi;
  /** Where `item.removed` is delivered from; null when outbound events are off. */
  events: { client: Client; taskQueue: string; retry: EventRetryPolicy } | null;
  logger: Logger;
}

export function createItemService(deps: ItemServiceDeps) {
  const notFound = (itemId: string) => new ApiError(404, 'ITEM_NOT_FOUND', `no Item ${itemId}`);

  async function queueRemovedEvent(item: StoredItem): Promise<void> {
    if (!deps.events || !item.removedAt) return;
    try {
      await startEventDelivery(deps.events.client, {
        taskQueue: deps.events.taskQueue,
        retry: deps.events.retry,
        event: itemRemovedEvent({
          item_id: item.itemId,
          session_id: item.sessionId,
          client_user_id: item.clientUserId,
          institution: item.institution,
          removed_at: item.removedAt,
        }),
      });
    } catch (err) {
      const why = isTemporalUnavailable(err) ? 'Temporal did not answer' : (err as Error).message;
      throw new ApiError(
        503,
        'EVENT_NOT_QUEUED',
        `the Item is removed, but its item.removed event could not be queued (${why}): repeat the DELETE to queue it`,
        { retryable: true, item_removed: true },
      );
    }
  }

  return {
    async list(clientUserId: string): Promise<ItemView[]> {
      return (await deps.store.listItemsOfClientUser(clientUserId)).map(toItemView);
    },

    async get(itemId: string): Promise<ItemView> {
      const item = await deps.store.getItem(itemId);
      if (!item) throw notFound(itemId);
      return toItemView(item);
    },

    async remove(itemId: string, log: Logger): Promise<ItemView> {
      const token = await deps.store.readAccessToken(itemId);
      if (token.state === 'missing') throw notFound(itemId);
      if (token.state === 'active') {
        try {
          await deps.plaid.itemRemove({ access_token: token.accessToken });
        } catch (err) {
          const info = classifyPlaidError(err);
          if (!ALREADY_GONE.has(info.code)) {
            throw new ApiError(
              502,
              info.code,
              `Plaid /item/remove failed, the Item is unchanged: ${info.message}`,
              {
                retryable: info.retryable,
                plaid_error_type: info.type,
                ...(info.requestId && { plaid_request_id: info.requestId }),
              },
            );
          }
          log.warn(
            { item_id: itemId, plaid_error_code: info.code },
            'Plaid no longer knows the Item; destroying its tokens',
          );
        }
      }
      const removed = await deps.store.removeItem(itemId);
      if (!removed) throw notFound(itemId);
      log.info({ item_id: itemId, already: token.state === 'removed' }, 'item removed');
      await queueRemovedEvent(removed);
      return toItemView(removed);
    },
  };
}

export type ItemService = ReturnType<typeof createItemService>;
