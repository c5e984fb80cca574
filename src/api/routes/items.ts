/** The Items API of the contract, behind the API key: list, show, remove. Never a secret. */
import { Hono } from 'hono';
import { validationError } from '../errors';
import { listItemsQuerySchema } from '../handoffSchemas';
import type { ItemService } from '../itemService';
import { requireApiKey } from '../middleware/auth';
import type { AppEnv } from '../types';

export interface ItemRoutesDeps {
  service: ItemService;
  apiKey: string;
}

export function itemRoutes(deps: ItemRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { service } = deps;
  // Per route, not `/items/*`: `/items/:item_id/access-token` takes the secrets key instead.
  const auth = requireApiKey(deps.apiKey);

  app.get('/items', auth, async (c) => {
    const parsed = listItemsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw validationError(parsed.error, 'query');
    return c.json({ items: await service.list(parsed.data.client_user_id) });
  });

  app.get('/items/:item_id', auth, async (c) => c.json(await service.get(c.req.param('item_id'))));

  app.delete('/items/:item_id', auth, async (c) =>
    c.json(await service.remove(c.req.param('item_id'), c.var.log)),
  );

  return app;
}
