/**
 * The API's wire shapes as zod schemas: request validation and the OpenAPI document both come
 * from here, so they cannot drift apart.
 */
import { CountryCode, Products } from 'plaid';
import { z } from 'zod';
import { PLAID_LINK_LANGUAGES } from '../plaid/languages';

const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;
/** A lone UTF-16 surrogate (from a `\ud800` JSON escape) cannot be stored or sent to Plaid faithfully. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(NO_CONTROL_CHARS, { message: 'must not contain control characters' })
    .refine((v) => !LONE_SURROGATE.test(v), { message: 'must be valid Unicode (no lone surrogates)' });

export const PLAID_PRODUCTS = Object.values(Products) as [string, ...string[]];
export const PLAID_COUNTRY_CODES = Object.values(CountryCode) as [string, ...string[]];
export const PLAID_LANGUAGES = PLAID_LINK_LANGUAGES;

const product = z.enum(PLAID_PRODUCTS);
const unique = <T>(values: T[]): T[] => [...new Set(values)];

export const clientUserIdSchema = text(128).describe('Your own stable id for the end user');

export const paymentChoiceSchema = z
  .discriminatedUnion('product', [
    z.strictObject({ product: z.literal('auth') }),
    z.strictObject({ product: z.literal('processor'), processor: text(64).describe('Plaid processor name') }),
    z.strictObject({
      product: z.literal('transfer'),
      amount: z
        .string()
        .regex(/^(?!0+\.00$)\d{1,9}\.\d{2}$/, { message: 'a positive decimal amount such as "12.34"' }),
      // A lender pulling a repayment is the common case: debit over standard ACH.
      type: z.enum(['debit', 'credit']).default('debit'),
      network: z.enum(['ach', 'same-day-ach']).default('ach'),
      legal_name: text(128),
    }),
  ])
  .describe('Money movement on one account the user picks after linking; needs Auth on that Item');

export const createSessionRequestSchema = z
  .strictObject({
    client_user_id: clientUserIdSchema,
    products: z.array(product).min(1).max(20).default(['transactions']).transform(unique),
    optional_products: z
      .array(product)
      .max(20)
      .optional()
      .transform((v) => (v ? unique(v) : undefined)),
    country_codes: z.array(z.enum(PLAID_COUNTRY_CODES)).min(1).max(20).default(['US']).transform(unique),
    language: z.enum(PLAID_LANGUAGES).default('en'),
    client_name: text(30).default('linkflow').describe('Shown in Link; Plaid allows at most 30 characters'),
    redirect_uri: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional()
      .describe('OAuth redirect URI'),
    payment: paymentChoiceSchema.optional(),
  })
  .describe('Starts a Multi-Item Link session');

export type CreateSessionRequest = z.output<typeof createSessionRequestSchema>;

export const createSessionResponseSchema = z.object({
  session_id: z.string().describe('The link token; also the session id'),
  link_token: z.string(),
  expiration: z.string().describe('ISO time the link token expires'),
  user_id: z.string().describe('Plaid user id from /user/create'),
});

export type CreateSessionResponse = z.output<typeof createSessionResponseSchema>;

export const selectPaymentAccountRequestSchema = z.strictObject({ account_id: text(128) });

/** The payment Link's `onSuccess` public token, posted by the front end. */
export const paymentLinkPublicTokenRequestSchema = z.strictObject({ public_token: text(512) });

/** The Item whose micro-deposits the user verifies in update mode. */
export const verificationLinkRequestSchema = z.strictObject({ item_id: text(128) });

export const listSessionsQuerySchema = z.strictObject({ client_user_id: clientUserIdSchema });

export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, { message: 'printable ASCII without spaces' });

const institution = z.object({ institution_id: z.string().nullable(), name: z.string().nullable() });
const accountMeta = z.object({
  account_id: z.string(),
  name: z.string().nullable(),
  mask: z.string().nullable(),
  type: z.string().nullable(),
  subtype: z.string().nullable(),
  verification_status: z
    .string()
    .nullable()
    .optional()
    .describe("Plaid's verification_status for micro-deposit and Database Auth accounts"),
});
const errorInfo = z.object({ code: z.string(), message: z.string(), retryable: z.boolean().optional() });
const eligibleAccount = z.object({
  account_id: z.string(),
  item_id: z.string(),
  name: z.string().nullable(),
  mask: z.string().nullable(),
  subtype: z.string().nullable(),
  institution_name: z.string().nullable(),
});

export const sessionViewSchema = z
  .object({
    session_id: z.string(),
    client_user_id: z.string(),
    user_id: z.string(),
    status: z.enum([
      'waiting_for_user',
      'linking',
      'exchanging',
      'awaiting_payment_account',
      'completed',
      'exited',
      'expired',
      'failed',
    ]),
    created_at: z.string(),
    finished_at: z.string().nullable(),
    link_session_ids: z.array(z.string()),
    items: z.array(
      z.object({
        item_id: z.string().nullable(),
        institution,
        accounts: z.array(accountMeta),
        status: z.enum(['exchanged', 'failed', 'outcome_unknown', 'duplicate']),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
        duplicate_of: z
          .string()
          .optional()
          .describe('`duplicate`: the Item of this user it duplicates; it was not exchanged'),
        replaces: z
          .string()
          .optional()
          .describe('the older Item of the same login the institution invalidated'),
        origin: z.literal('payment_link').optional(),
      }),
    ),
    eligible_accounts: z.array(eligibleAccount),
    ineligible_accounts: z.array(
      eligibleAccount.extend({
        reason: z.enum(['not_checking_or_savings', 'item_without_auth', 'not_verified']),
        verification_status: z.string().optional(),
      }),
    ),
    pending_accounts: z
      .array(eligibleAccount.extend({ verification_status: z.string() }))
      .describe('accounts Plaid is still verifying (micro-deposits): not selectable yet'),
    payment_link: z
      .object({ link_token: z.string(), expiration: z.string() })
      .nullable()
      .optional()
      .describe("the session's payment Link (single-Item, auth only), once created"),
    payment_account: z
      .object({
        account_id: z.string(),
        item_id: z.string(),
        product: z.enum(['auth', 'processor', 'transfer']),
        result: z.record(z.string(), z.unknown()),
      })
      .nullable(),
    polling: z.object({ active: z.boolean(), polls: z.number(), last_polled_at: z.string().nullable() }),
    errors: z.array(errorInfo),
    retrying: z
      .array(
        z.object({
          activity: z.string(),
          attempt: z.number(),
          last_error: errorInfo.nullable(),
          next_attempt_at: z.string().nullable(),
        }),
      )
      .optional()
      .describe(
        'GET of one session only: work Temporal is retrying now (e.g. an exchange Plaid answered RATE_LIMIT). ' +
          'An entry leaves when the work succeeds, or ends in `errors` when it finally fails',
      ),
  })
  .describe('A Link session as its workflow sees it; never holds an access token');

export const createdLinkTokenSchema = z.object({ link_token: z.string(), expiration: z.string() });

export const sessionListSchema = z.object({ sessions: z.array(sessionViewSchema) });

export const errorBodySchema = z.object({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    field: z.string().optional().describe('The offending field, on validation errors'),
    retryable: z.boolean().optional(),
  }),
});

// ---- Plaid webhooks (lenient: Plaid adds fields without notice) ----

export const webhookEnvelopeSchema = z.looseObject({
  webhook_type: z.string(),
  webhook_code: z.string(),
});

/** Plaid's AUTH webhooks for micro-deposit verification (`AUTOMATICALLY_VERIFIED`, `VERIFICATION_EXPIRED`). */
export const authVerificationWebhookSchema = z.looseObject({
  webhook_type: z.literal('AUTH'),
  webhook_code: z.enum(['AUTOMATICALLY_VERIFIED', 'VERIFICATION_EXPIRED']),
  item_id: z.string().min(1).max(128),
  account_id: z.string().min(1).max(128).nullish(),
});

export const itemAddResultWebhookSchema = z.looseObject({
  webhook_type: z.literal('LINK'),
  webhook_code: z.literal('ITEM_ADD_RESULT'),
  link_token: z.string().min(1),
  link_session_id: z.string().nullish(),
  public_token: z.string().min(1),
});

export const sessionFinishedWebhookSchema = z.looseObject({
  webhook_type: z.literal('LINK'),
  webhook_code: z.literal('SESSION_FINISHED'),
  link_token: z.string().min(1),
  link_session_id: z.string().nullish(),
  // Plaid documents upper case and has sent lower case: accept both.
  status: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(['SUCCESS', 'EXITED'])),
  public_tokens: z.array(z.string().min(1)).nullish(),
  /** Deprecated by Plaid: the first public token. */
  public_token: z.string().min(1).nullish(),
});

export const webhookAckSchema = z.object({
  received: z.literal(true),
  outcome: z.enum(['delivered', 'ignored', 'unknown_session', 'reopened']),
});

// ---- Temporal codec server protocol ----

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, { message: 'base64' });

export const codecPayloadSchema = z.looseObject({
  metadata: z.record(z.string(), base64).nullish(),
  data: base64.nullish(),
});

export const codecBodySchema = z.object({ payloads: z.array(codecPayloadSchema).max(10_000) });
