/**
 * What a Link session accepts as a signal or update, as pure functions (no zod: workflow code
 * imports only @temporalio/workflow). Signals cannot be refused by Temporal the way updates can,
 * so the workflow checks each one as it arrives and records a refused one instead of acting on it.
 *
 * A webhook signal must carry `webhook_mac`: the worker's payload codec has already replaced any
 * payload that was not encrypted with linkflow's key, or whose MAC does not verify for this
 * workflow, by `{ linkflow_rejected: <why> }` (workflow code cannot do the crypto itself). A
 * signal without the field was therefore not sent by the API's webhook route.
 */
import type {
  ItemAddResultSignal,
  ItemVerificationSignal,
  PaymentLinkPublicTokenSignal,
  SelectPaymentAccountRequest,
  SessionFinishedSignal,
  VerificationLinkRequest,
} from './types';

/** The field the payload codec puts in place of a payload the workflow must not act on. */
export const REJECTED_PAYLOAD_FIELD = 'linkflow_rejected';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

const MAX_TOKEN_LENGTH = 512;
const MAX_PUBLIC_TOKENS = 100;
const TOKEN = /^[\x21-\x7e]+$/;

type Fields = Record<string, unknown>;

function refused(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** The common checks: an object, not a codec rejection, and authenticated by the webhook route. */
function envelope(raw: unknown): Checked<Fields> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return refused('the payload is not an object');
  const fields = raw as Fields;
  const rejected = fields[REJECTED_PAYLOAD_FIELD];
  if (typeof rejected === 'string') return refused(rejected);
  if (typeof fields.webhook_mac !== 'string' || fields.webhook_mac === '')
    return refused('no webhook_mac: the signal did not come from a verified Plaid webhook');
  return { ok: true, value: fields };
}

function isToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH && TOKEN.test(value);
}

function linkSessionIdOf(fields: Fields): Checked<string | null> {
  const id = fields.link_session_id;
  if (id === null || id === undefined) return { ok: true, value: null };
  return isToken(id) ? { ok: true, value: id } : refused('link_session_id is not a string id or null');
}

function receivedAtOf(fields: Fields): Checked<string> {
  const at = fields.received_at;
  return typeof at === 'string' && at.length <= 64 && !Number.isNaN(Date.parse(at))
    ? { ok: true, value: at }
    : refused('received_at is not an ISO timestamp');
}

export function checkItemAddResult(raw: unknown): Checked<ItemAddResultSignal> {
  const e = envelope(raw);
  if (!e.ok) return e;
  const fields = e.value;
  if (!isToken(fields.public_token)) return refused('public_token is missing or not a token string');
  const linkSessionId = linkSessionIdOf(fields);
  if (!linkSessionId.ok) return linkSessionId;
  const receivedAt = receivedAtOf(fields);
  if (!receivedAt.ok) return receivedAt;
  return {
    ok: true,
    value: {
      public_token: fields.public_token,
      link_session_id: linkSessionId.value,
      received_at: receivedAt.value,
    },
  };
}

export function checkSessionFinished(raw: unknown): Checked<SessionFinishedSignal> {
  const e = envelope(raw);
  if (!e.ok) return e;
  const fields = e.value;
  if (fields.status !== 'SUCCESS' && fields.status !== 'EXITED')
    return refused('status is not SUCCESS or EXITED');
  const tokens = fields.public_tokens;
  if (!Array.isArray(tokens) || tokens.length > MAX_PUBLIC_TOKENS || !tokens.every(isToken))
    return refused(`public_tokens is not a list of at most ${MAX_PUBLIC_TOKENS} token strings`);
  const linkSessionId = linkSessionIdOf(fields);
  if (!linkSessionId.ok) return linkSessionId;
  const receivedAt = receivedAtOf(fields);
  if (!receivedAt.ok) return receivedAt;
  return {
    ok: true,
    value: {
      status: fields.status,
      link_session_id: linkSessionId.value,
      public_tokens: tokens as string[],
      received_at: receivedAt.value,
    },
  };
}

/** The payment-account update's argument (updates come from API callers: no webhook MAC). */
export function checkPaymentAccountRequest(raw: unknown): Checked<SelectPaymentAccountRequest> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return refused('the request is not an object');
  const fields = raw as Fields;
  const rejected = fields[REJECTED_PAYLOAD_FIELD];
  if (typeof rejected === 'string') return refused(rejected);
  return isToken(fields.account_id)
    ? { ok: true, value: { account_id: fields.account_id } }
    : refused('account_id is missing or not an id string');
}

/** An AUTH webhook routed to the session by its item_id (a reason to read the Item again). */
export function checkItemVerification(raw: unknown): Checked<ItemVerificationSignal> {
  const e = envelope(raw);
  if (!e.ok) return e;
  const fields = e.value;
  if (!isToken(fields.item_id)) return refused('item_id is missing or not an id string');
  if (typeof fields.reason !== 'string' || !/^[A-Z_]{1,64}$/.test(fields.reason))
    return refused('reason is not a webhook code');
  const receivedAt = receivedAtOf(fields);
  if (!receivedAt.ok) return receivedAt;
  return {
    ok: true,
    value: { item_id: fields.item_id, reason: fields.reason, received_at: receivedAt.value },
  };
}

/** An update's object argument, not a codec rejection (updates come from API callers). */
function requestFields(raw: unknown): Checked<Fields> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return refused('the request is not an object');
  const fields = raw as Fields;
  const rejected = fields[REJECTED_PAYLOAD_FIELD];
  return typeof rejected === 'string' ? refused(rejected) : { ok: true, value: fields };
}

/** The payment Link's public token, from the front end. */
export function checkPaymentLinkPublicToken(raw: unknown): Checked<PaymentLinkPublicTokenSignal> {
  const r = requestFields(raw);
  if (!r.ok) return r;
  if (!isToken(r.value.public_token)) return refused('public_token is missing or not a token string');
  const receivedAt = receivedAtOf(r.value);
  if (!receivedAt.ok) return receivedAt;
  return { ok: true, value: { public_token: r.value.public_token, received_at: receivedAt.value } };
}

/** The Item a verification Link (or a refresh) is asked for. */
export function checkItemRequest(raw: unknown): Checked<VerificationLinkRequest> {
  const r = requestFields(raw);
  if (!r.ok) return r;
  return isToken(r.value.item_id)
    ? { ok: true, value: { item_id: r.value.item_id } }
    : refused('item_id is missing or not an id string');
}
