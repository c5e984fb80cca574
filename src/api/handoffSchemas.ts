/** Wire shapes of the hand-off routes (Items, secret reads, the audit), for validation and OpenAPI. */
import { z } from 'zod';
import { clientUserIdSchema } from './schemas';

const institution = z.object({ institution_id: z.string().nullable(), name: z.string().nullable() });

export const itemViewSchema = z
  .object({
    item_id: z.string(),
    client_user_id: z.string(),
    session_id: z.string().describe('The link token of the session that linked the Item'),
    institution,
    accounts: z.array(
      z.object({
        account_id: z.string(),
        name: z.string().nullable(),
        mask: z.string().nullable(),
        type: z.string().nullable(),
        subtype: z.string().nullable(),
        verification_status: z.string().nullable(),
      }),
    ),
    products: z.array(z.string()),
    status: z.enum(['active', 'error', 'removed']),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    created_at: z.string(),
    removed_at: z.string().nullable(),
  })
  .describe('A linked Item; never holds a secret');

export const itemListSchema = z.object({ items: z.array(itemViewSchema) });
export const listItemsQuerySchema = z.strictObject({ client_user_id: clientUserIdSchema });

export const accessTokenResponseSchema = z.object({ item_id: z.string(), access_token: z.string() });

export const paymentCredentialsSchema = z.object({
  product: z.enum(['auth', 'processor', 'transfer']),
  account_id: z.string(),
  item_id: z.string(),
  ach: z
    .object({ account: z.string(), routing: z.string(), wire_routing: z.string().nullable() })
    .optional()
    .describe('auth: the full ACH numbers of the chosen account'),
  processor_token: z.string().optional().describe('processor: the token for the named processor'),
  authorization: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('transfer: Plaid’s transfer authorization as /transfer/authorization/create returned it'),
});

export const secretReadsQuerySchema = z.strictObject({
  item_id: z.string().min(1).max(128).optional(),
  session_id: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const secretReadsSchema = z.object({
  reads: z.array(
    z.object({
      at: z.string(),
      key: z.string().describe('Fingerprint of the key that read (never the key)'),
      route: z.string(),
      item_id: z.string().nullable(),
      session_id: z.string().nullable(),
      request_id: z.string(),
      remote: z.string().nullable().describe('The caller’s address as the API saw it'),
    }),
  ),
});
