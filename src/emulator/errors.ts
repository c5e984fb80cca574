/**
 * Plaid's error vocabulary: every code the emulator can answer with, its `error_type`, HTTP status
 * and the messages Plaid's error reference documents for it (plaid.com/docs/errors/...).
 * Route code throws `PlaidApiError`; the router turns it into a `PlaidError` body.
 */
import { type PlaidError, PlaidErrorType } from 'plaid';

export interface PlaidErrorSpec {
  type: PlaidErrorType;
  status: number;
  message: string;
  display: string | null;
}

const T = PlaidErrorType;
const ITEM_LIMIT_MESSAGE = 'rate limit exceeded for attempts to access this item. please try again later';
const INSTITUTION_DOWN_MESSAGE =
  'this institution is not currently responding to this request. please try again soon';
const INSTITUTION_DOWN_DISPLAY =
  'This financial institution is not currently responding to requests. We apologize for the inconvenience.';

function spec(type: PlaidErrorType, status: number, message: string, display: string | null = null) {
  return { type, status, message, display };
}

/** Codes known to the emulator, with Plaid's documented type, status and wording. */
export const PLAID_ERRORS: Readonly<Record<string, PlaidErrorSpec>> = {
  // INVALID_REQUEST
  MISSING_FIELDS: spec(T.InvalidRequest, 400, 'the following required fields are missing: {fields}'),
  INVALID_FIELD: spec(
    T.InvalidRequest,
    400,
    'one or more of the request body fields were improperly formatted',
  ),
  UNKNOWN_FIELDS: spec(
    T.InvalidRequest,
    400,
    'the following fields are not recognized by this endpoint: {fields}',
  ),
  INVALID_BODY: spec(T.InvalidRequest, 400, 'body could not be parsed as JSON'),
  INVALID_HEADERS: spec(T.InvalidRequest, 400, 'the request was missing a required header'),
  INVALID_CONFIGURATION: spec(
    T.InvalidRequest,
    400,
    'please ensure that the request body is formatted correctly',
  ),
  NOT_FOUND: spec(T.InvalidRequest, 404, 'not found'),
  SANDBOX_ONLY: spec(
    T.InvalidRequest,
    400,
    'access to this route is only available in the sandbox environment',
  ),
  // INVALID_INPUT
  INVALID_API_KEYS: spec(T.InvalidInput, 400, 'invalid client_id or secret provided'),
  INVALID_ACCESS_TOKEN: spec(T.InvalidInput, 400, 'could not find matching access token'),
  INVALID_PUBLIC_TOKEN: spec(T.InvalidInput, 400, 'could not find matching public token'),
  INVALID_LINK_TOKEN: spec(T.InvalidInput, 400, 'invalid link_token provided'),
  INVALID_ACCOUNT_ID: spec(T.InvalidInput, 400, 'failed to find requested account ID for requested item'),
  INVALID_INSTITUTION: spec(T.InvalidInput, 400, 'invalid institution_id provided'),
  INVALID_PRODUCT: spec(
    T.InvalidInput,
    400,
    'client is not authorized to access the following products: {products}',
  ),
  INVALID_USER_TOKEN: spec(T.InvalidInput, 400, 'could not find matching user token'),
  INVALID_USER_ID: spec(T.InvalidInput, 400, 'user.user_id must be a non-empty string'),
  INVALID_PROCESSOR_TOKEN: spec(T.InvalidInput, 400, 'invalid processor_token provided'),
  INVALID_WEBHOOK_VERIFICATION_KEY_ID: spec(
    T.InvalidInput,
    400,
    'invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from',
  ),
  UNAUTHORIZED_ENVIRONMENT: spec(
    T.InvalidInput,
    400,
    'you are not authorized to create items in this api environment. Go to the Dashboard (https://dashboard.plaid.com) to see which environments you are authorized for.',
  ),
  UNAUTHORIZED_ROUTE_ACCESS: spec(
    T.InvalidInput,
    400,
    'you are not authorized to access this route in this api environment.',
  ),
  USER_PERMISSION_REVOKED: spec(
    T.InvalidInput,
    400,
    'the holder of this account has revoked their permission for your application to access it',
  ),
  ADDITIONAL_CONSENT_REQUIRED: spec(
    T.InvalidInput,
    400,
    'client does not have user consent to access the PRODUCT_AUTH product',
  ),
  // ITEM_ERROR
  ITEM_LOGIN_REQUIRED: spec(
    T.ItemError,
    400,
    "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
  ),
  ITEM_NOT_FOUND: spec(
    T.ItemError,
    400,
    'The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.',
  ),
  ITEM_LOCKED: spec(
    T.ItemError,
    400,
    "the account is locked. prompt the user to visit the institution's site and unlock their account",
    "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account.",
  ),
  ITEM_NOT_SUPPORTED: spec(
    T.ItemError,
    400,
    'this account is currently not supported',
    'The given account is not currently supported for this financial institution. We apologize for the inconvenience.',
  ),
  ITEM_CONCURRENTLY_DELETED: spec(
    T.ItemError,
    400,
    'This item was deleted while the operation was in progress',
  ),
  ACCESS_NOT_GRANTED: spec(
    T.ItemError,
    400,
    'access to this product was not granted for the account',
    'The user did not grant the necessary permissions for this product on their account.',
  ),
  INVALID_CREDENTIALS: spec(
    T.ItemError,
    400,
    'the provided credentials were not correct',
    'The provided credentials were not correct. Please try again.',
  ),
  NO_ACCOUNTS: spec(
    T.ItemError,
    400,
    'no valid accounts were found for this item',
    "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available.",
  ),
  NO_AUTH_ACCOUNTS: spec(
    T.ItemError,
    400,
    'There are no valid checking or savings account(s) associated with this Item. See https://plaid.com/docs/api/#item-errors for more.',
  ),
  PRODUCT_NOT_ENABLED: spec(
    T.ItemError,
    400,
    'A requested product was not enabled for the current access token. Please ensure it is included when when initializing Link and create the Item again.',
  ),
  PRODUCT_NOT_READY: spec(
    T.ItemError,
    400,
    'the requested product is not yet ready. please provide a webhook or try the request again later',
  ),
  PRODUCTS_NOT_SUPPORTED: spec(T.ItemError, 400, ''),
  // Same-Day Micro-deposit verification in Link (update mode).
  INCORRECT_DEPOSIT_VERIFICATION: spec(
    T.ItemError,
    400,
    'the user submitted an incorrect micro-deposit verification code',
    'The code you entered is incorrect. Please try again.',
  ),
  TOO_MANY_VERIFICATION_ATTEMPTS: spec(
    T.ItemError,
    400,
    'the user exhausted the micro-deposit verification attempts for this Item; the account must be linked again',
    'You have entered an incorrect code too many times. Please link your account again.',
  ),
  USER_SETUP_REQUIRED: spec(
    T.ItemError,
    400,
    "the account has not been fully set up. prompt the user to visit the issuing institution's site and finish the setup process",
    "The given account is not fully setup. Please visit your financial institution's website to setup your account.",
  ),
  MFA_NOT_SUPPORTED: spec(
    T.ItemError,
    400,
    'this account requires a MFA type that we do not currently support for the institution',
  ),
  PASSWORD_RESET_REQUIRED: spec(
    T.ItemError,
    400,
    'user must reset their password',
    'The user needs to reset their password for their account',
  ),
  // INSTITUTION_ERROR
  INSTITUTION_DOWN: spec(T.InstitutionError, 400, INSTITUTION_DOWN_MESSAGE, INSTITUTION_DOWN_DISPLAY),
  INSTITUTION_NOT_RESPONDING: spec(
    T.InstitutionError,
    400,
    INSTITUTION_DOWN_MESSAGE,
    INSTITUTION_DOWN_DISPLAY,
  ),
  INSTITUTION_NOT_AVAILABLE: spec(
    T.InstitutionError,
    400,
    INSTITUTION_DOWN_MESSAGE,
    INSTITUTION_DOWN_DISPLAY,
  ),
  INSTITUTION_NO_LONGER_SUPPORTED: spec(
    T.InstitutionError,
    400,
    'this institution is no longer supported',
    'This financial institution is no longer supported. We apologize for the inconvenience.',
  ),
  UNAUTHORIZED_INSTITUTION: spec(
    T.InstitutionError,
    400,
    'not authorized to create items for this institution',
    'You are not authorized to create items for this institution at this time.',
  ),
  INSTITUTION_REGISTRATION_REQUIRED: spec(
    T.InstitutionError,
    400,
    'not yet registered to create items for this institution',
    'You must register your application with this institution before you can create items for it.',
  ),
  UNSUPPORTED_RESPONSE: spec(
    T.InstitutionError,
    400,
    'the data returned from the financial institution is not valid',
    'The data returned from the financial institution is not valid.',
  ),
  // RATE_LIMIT_EXCEEDED
  RATE_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  ACCOUNTS_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  AUTH_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  BALANCE_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  IDENTITY_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  ITEM_GET_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  TRANSACTIONS_LIMIT: spec(T.RateLimitExceeded, 429, ITEM_LIMIT_MESSAGE),
  INSTITUTION_RATE_LIMIT: spec(
    T.RateLimitExceeded,
    429,
    'The institution is currently receiving too many requests. Please try again later.',
  ),
  // SANDBOX_ERROR
  SANDBOX_PRODUCT_NOT_ENABLED: spec(T.SandboxError, 400, 'The requested product is not enabled on this Item'),
  SANDBOX_WEBHOOK_INVALID: spec(
    T.SandboxError,
    400,
    'Webhook for this item is either empty or has been removed',
  ),
  // API_ERROR
  INTERNAL_SERVER_ERROR: spec(T.ApiError, 500, 'an unexpected error occurred'),
  PLANNED_MAINTENANCE: spec(
    T.ApiError,
    503,
    'the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information',
  ),
};

/** Plaid links each error type to a section of its error reference. */
const DOC_ANCHORS: Partial<Record<PlaidErrorType, string>> = {
  [T.InvalidRequest]: 'invalid-request-errors',
  [T.InvalidInput]: 'invalid-input-errors',
  [T.InvalidResult]: 'invalid-result-errors',
  [T.ItemError]: 'item-errors',
  [T.InstitutionError]: 'institution-errors',
  [T.RateLimitExceeded]: 'rate-limit-exceeded-errors',
  [T.ApiError]: 'api-errors',
  [T.TransferError]: 'transfer-errors',
  [T.SandboxError]: 'sandbox-errors',
};

export function isKnownErrorCode(code: string): boolean {
  return Object.hasOwn(PLAID_ERRORS, code);
}

export function errorSpec(code: string): PlaidErrorSpec {
  const found = PLAID_ERRORS[code];
  if (!found) throw new Error(`unknown Plaid error code ${code}`);
  return found;
}

export interface PlaidErrorOverrides {
  message?: string;
  display?: string | null;
  status?: number;
}

/** Thrown by route code; carries everything needed to answer like Plaid. */
export class PlaidApiError extends Error {
  readonly code: string;
  readonly type: PlaidErrorType;
  readonly status: number;
  readonly display: string | null;

  constructor(code: string, overrides: PlaidErrorOverrides = {}) {
    const s = errorSpec(code);
    super(overrides.message ?? s.message);
    this.name = 'PlaidApiError';
    this.code = code;
    this.type = s.type;
    this.status = overrides.status ?? s.status;
    this.display = overrides.display === undefined ? s.display : overrides.display;
  }

  toBody(requestId: string): PlaidError {
    return plaidErrorBody(this.type, this.code, this.message, this.display, requestId);
  }
}

/**
 * The body Plaid returns: the seven fields its API responses carry, plus `error_code_reason`
 * (null outside OAuth Item errors). `status` and `causes` are left out on purpose: Plaid's schema
 * says `status` is only filled in for errors delivered by webhook, `causes` only for report errors.
 */
export function plaidErrorBody(
  type: PlaidErrorType,
  code: string,
  message: string,
  display: string | null,
  requestId: string,
): PlaidError {
  const anchor = DOC_ANCHORS[type];
  return {
    display_message: display,
    documentation_url: `https://plaid.com/docs/?ref=error#${anchor ?? 'errors'}`,
    error_code: code,
    error_code_reason: null,
    error_message: message,
    error_type: type,
    request_id: requestId,
    suggested_action: null,
  };
}

export const fail = {
  missingFields(fields: readonly string[]): PlaidApiError {
    return new PlaidApiError('MISSING_FIELDS', {
      message: `the following required fields are missing: ${fields.join(', ')}`,
    });
  },
  invalidField(message: string): PlaidApiError {
    return new PlaidApiError('INVALID_FIELD', { message, display: null });
  },
  unknownFields(fields: readonly string[]): PlaidApiError {
    return new PlaidApiError('UNKNOWN_FIELDS', {
      message: `the following fields are not recognized by this endpoint: ${fields.join(', ')}`,
    });
  },
};
