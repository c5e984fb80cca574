/** The OpenAPI 3.1 document of the API, generated from the same zod schemas that validate requests. */
import { z } from 'zod';
import { handoffPaths, SECRETS_SECURITY_SCHEME } from './openapiHandoff';
import {
  codecBodySchema,
  createdLinkTokenSchema,
  createSessionRequestSchema,
  createSessionResponseSchema,
  errorBodySchema,
  paymentLinkPublicTokenRequestSchema,
  selectPaymentAccountRequestSchema,
  sessionListSchema,
  sessionViewSchema,
  verificationLinkRequestSchema,
  webhookAckSchema,
  webhookEnvelopeSchema,
} from './schemas';

type Json = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const json = (s: z.ZodType, io: 'input' | 'output' = 'output') => ({
  content: { 'application/json': { schema: schema(s, io) } },
});
const error = (description: string) => ({ description, ...json(errorBodySchema) });
const bearer = [{ bearerAuth: [] }];
const sessionIdParam = {
  name: 'session_id',
  in: 'path',
  required: true,
  description: 'The link token',
  schema: { type: 'string', pattern: '^link-(sandbox|production|development)-[0-9a-f-]{36}$' },
};

export function buildOpenApiDocument(): Json {
  const codecOp = (direction: string) => ({
    summary: `Temporal codec server: ${direction} payloads`,
    description:
      'For the Temporal UI and the CLI. CORS for the UI origins only; always a credential: the API key or the codec token as a bearer token, or the codec token in the path (`/codec/ui/<token>/' +
      direction +
      "`, the Temporal UI's endpoint, since the UI sends no credentials). An Origin without a credential gets 403.",
    parameters: [{ name: 'X-Namespace', in: 'header', required: false, schema: { type: 'string' } }],
    security: [...bearer, {}],
    requestBody: { required: true, ...json(codecBodySchema, 'input') },
    responses: {
      '200': { description: `the payloads, ${direction}d`, ...json(codecBodySchema) },
      '400': error('invalid body or codec failure'),
      '401': error('no valid key'),
      '403': error('origin not allowed, or a browser request without a credential'),
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'linkflow',
      version: '0.1.0',
      description:
        'Plaid Multi-Item Link sessions as durable Temporal workflows. Errors are `{ error: { code, message } }`.',
    },
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer' },
        secretsAuth: SECRETS_SECURITY_SCHEME,
      },
    },
    paths: {
      ...handoffPaths(),
      '/link/sessions': {
        post: {
          summary: 'Create a Multi-Item Link session',
          security: bearer,
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description:
                'Same key + same body → the same session (200 on replay); same key + different body → 409',
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, ...json(createSessionRequestSchema, 'input') },
          responses: {
            '201': { description: 'created', ...json(createSessionResponseSchema) },
            '200': { description: 'idempotent replay', ...json(createSessionResponseSchema) },
            '400': error('invalid body; error.field names the field'),
            '401': error('missing or invalid API key'),
            '409': error('IDEMPOTENCY_KEY_REUSED'),
            '429': error(
              'RATE_LIMITED: more sessions than LINKFLOW_SESSION_RATE_LIMIT allows; see Retry-After',
            ),
            '502': error('Plaid error: error.code is Plaid’s code, error.retryable says whether to retry'),
            '503': error('Temporal unavailable'),
          },
        },
        get: {
          summary: 'List the sessions of a client user',
          security: bearer,
          parameters: [{ name: 'client_user_id', in: 'query', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'the sessions, newest first', ...json(sessionListSchema) },
            '400': error('missing client_user_id'),
            '401': error('missing or invalid API key'),
          },
        },
      },
      '/link/sessions/{session_id}': {
        get: {
          summary: 'A session’s view',
          security: bearer,
          parameters: [sessionIdParam],
          responses: {
            '200': { description: 'the session view', ...json(sessionViewSchema) },
            '401': error('missing or invalid API key'),
            '404': error('SESSION_NOT_FOUND'),
          },
        },
      },
      '/link/sessions/{session_id}/payment-account': {
        post: {
          summary: 'Choose the account money moves on',
          security: bearer,
          parameters: [sessionIdParam],
          requestBody: { required: true, ...json(selectPaymentAccountRequestSchema, 'input') },
          responses: {
            '200': { description: 'the view with payment_account set', ...json(sessionViewSchema) },
            '400': error('invalid body'),
            '401': error('missing or invalid API key'),
            '404': error('SESSION_NOT_FOUND'),
            '409': error('NOT_AWAITING_PAYMENT_ACCOUNT'),
            '422': error('ACCOUNT_NOT_ELIGIBLE'),
          },
        },
      },
      '/link/sessions/{session_id}/payment-link': {
        post: {
          summary: 'Link a different account: a single-Item link token with only auth (or transfer)',
          description:
            'Plaid’s Multi-Item step 5: non-credential flows (Same-Day and Automated Micro-deposits, Database Auth) ' +
            'are enabled. Only while the session awaits its payment account; the live token is returned again.',
          security: bearer,
          parameters: [sessionIdParam],
          responses: {
            '201': { description: 'the link token', ...json(createdLinkTokenSchema) },
            '401': error('missing or invalid API key'),
            '404': error('SESSION_NOT_FOUND'),
            '409': error('NOT_AWAITING_PAYMENT_ACCOUNT or PAYMENT_LINK_UNAVAILABLE'),
            '502': error('Plaid refused to create the link token (its error code)'),
          },
        },
      },
      '/link/sessions/{session_id}/payment-link/public-token': {
        post: {
          summary: 'The payment Link’s public token (its onSuccess); the session exchanges it exactly once',
          security: bearer,
          parameters: [sessionIdParam],
          requestBody: { required: true, ...json(paymentLinkPublicTokenRequestSchema, 'input') },
          responses: {
            '202': { description: 'accepted by the session' },
            '400': error('invalid body'),
            '401': error('missing or invalid API key'),
            '404': error('SESSION_NOT_FOUND'),
            '409': error('PAYMENT_LINK_UNAVAILABLE: no payment Link was created'),
          },
        },
      },
      '/link/sessions/{session_id}/verification-link': {
        post: {
          summary: 'Update mode for manual micro-deposit verification of one of the session’s Items',
          security: bearer,
          parameters: [sessionIdParam],
          requestBody: { required: true, ...json(verificationLinkRequestSchema, 'input') },
          responses: {
            '201': { description: 'the link token', ...json(createdLinkTokenSchema) },
            '400': error('invalid body'),
            '401': error('missing or invalid API key'),
            '404': error('SESSION_NOT_FOUND or ITEM_NOT_IN_SESSION'),
            '409': error('NOT_AWAITING_VERIFICATION'),
          },
        },
      },
      '/webhooks/plaid': {
        post: {
          summary: 'Plaid webhooks (verified with Plaid-Verification)',
          parameters: [
            { name: 'Plaid-Verification', in: 'header', required: true, schema: { type: 'string' } },
          ],
          requestBody: { required: true, ...json(webhookEnvelopeSchema, 'input') },
          responses: {
            '200': {
              description: 'handed to the workflow, or deliberately dropped',
              ...json(webhookAckSchema),
            },
            '400': error('malformed'),
            '401': error('verification failed'),
            '413': error('too large'),
            '503': error('Temporal (or Plaid’s key endpoint) unavailable; Plaid retries'),
          },
        },
      },
      '/codec/encode': { post: codecOp('encode') },
      '/codec/decode': { post: codecOp('decode') },
      '/healthz': {
        get: {
          summary: 'Liveness (reports Temporal reachability)',
          responses: { '200': { description: '{ ok: true, temporal }' } },
        },
      },
      '/readyz': {
        get: {
          summary: 'Readiness: 503 while Temporal is unreachable',
          responses: { '200': { description: 'ready' }, '503': error('not ready') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (a bearer LINKFLOW_METRICS_TOKEN when that is set)',
          responses: {
            '200': { description: 'text exposition', content: { 'text/plain': {} } },
            '401': error('LINKFLOW_METRICS_TOKEN is set and was not presented'),
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI' } } },
      },
      '/docs': {
        get: { summary: 'A page to read and try the API', responses: { '200': { description: 'HTML' } } },
      },
    },
  };
}
