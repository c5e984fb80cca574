/** The OpenAPI paths of the hand-off routes (Items API, secret reads, audit), merged by openapi.ts. */
import { z } from 'zod';
import {
  accessTokenResponseSchema,
  itemListSchema,
  itemViewSchema,
  paymentCredentialsSchema,
  secretReadsSchema,
} from './handoffSchemas';
import { errorBodySchema } from './schemas';

type Json = Record<string, unknown>;

function schema(s: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Json;
  return rest;
}
const json = (s: z.ZodType) => ({ content: { 'application/json': { schema: schema(s) } } });
const error = (description: string) => ({ description, ...json(errorBodySchema) });
const bearer = [{ bearerAuth: [] }];
const secrets = [{ secretsAuth: [] }];
const itemIdParam = { name: 'item_id', in: 'path', required: true, schema: { type: 'string' } };
const sessionIdParam = {
  name: 'session_id',
  in: 'path',
  required: true,
  description: 'The link token',
  schema: { type: 'string' },
};
const noStore = {
  'Cache-Control': { description: 'always `no-store`', schema: { type: 'string', const: 'no-store' } },
};
const secretErrors = {
  '401': error('no valid key'),
  '403': error(
    'SECRETS_API_DISABLED (LINKFLOW_SECRETS_API_KEY unset) or SECRETS_KEY_REQUIRED (the ordinary API key was sent)',
  ),
};

export const SECRETS_SECURITY_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  description: 'LINKFLOW_SECRETS_API_KEY: separate from the API key; every read is audited',
};

export function handoffPaths(): Json {
  return {
    '/items': {
      get: {
        summary: 'The Items of a client user',
        security: bearer,
        parameters: [{ name: 'client_user_id', in: 'query', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'oldest first', ...json(itemListSchema) },
          '400': error('missing client_user_id'),
          '401': error('missing or invalid API key'),
        },
      },
    },
    '/items/{item_id}': {
      get: {
        summary: 'One Item: institution, accounts, products, status',
        security: bearer,
        parameters: [itemIdParam],
        responses: {
          '200': { description: 'the Item', ...json(itemViewSchema) },
          '401': error('missing or invalid API key'),
          '404': error('ITEM_NOT_FOUND'),
        },
      },
      delete: {
        summary: 'Remove an Item: Plaid /item/remove, then its stored tokens destroyed',
        description:
          'Idempotent. The access token, any processor token and the payment credentials of the Item are deleted (ciphertext, not a flag). `item.removed` is sent when outbound events are on. A Plaid failure leaves the Item as it was.',
        security: bearer,
        parameters: [itemIdParam],
        responses: {
          '200': { description: 'the Item, status `removed`', ...json(itemViewSchema) },
          '401': error('missing or invalid API key'),
          '404': error('ITEM_NOT_FOUND'),
          '502': error('Plaid /item/remove failed (error.code is Plaid’s); the Item is unchanged'),
          '503': error('EVENT_NOT_QUEUED: removed, but item.removed could not be queued; repeat the DELETE'),
        },
      },
    },
    '/items/{item_id}/access-token': {
      get: {
        summary: 'The Item’s Plaid access token (secrets key, audited)',
        security: secrets,
        parameters: [itemIdParam],
        responses: {
          '200': { description: 'the token', headers: noStore, ...json(accessTokenResponseSchema) },
          ...secretErrors,
          '404': error('ITEM_NOT_FOUND'),
          '410': error('ITEM_REMOVED: the token was destroyed'),
        },
      },
    },
    '/link/sessions/{session_id}/payment-account/credentials': {
      get: {
        summary: 'What the payment step produced, in full (secrets key, audited)',
        security: secrets,
        parameters: [sessionIdParam],
        responses: {
          '200': {
            description: 'ACH numbers, processor token or transfer authorization',
            headers: noStore,
            ...json(paymentCredentialsSchema),
          },
          ...secretErrors,
          '404': error('PAYMENT_CREDENTIALS_NOT_FOUND'),
          '410': error('ITEM_REMOVED'),
        },
      },
    },
    '/audit/secret-reads': {
      get: {
        summary: 'The audit trail of secret reads (secrets key), newest first',
        security: secrets,
        parameters: [
          { name: 'item_id', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'session_id', in: 'query', required: false, schema: { type: 'string' } },
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        ],
        responses: {
          '200': { description: 'the reads', headers: noStore, ...json(secretReadsSchema) },
          ...secretErrors,
        },
      },
    },
  };
}
