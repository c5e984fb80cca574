/**
 * Classifies what the Plaid client threw: a PlaidError body (error_type, error_code, ...) with its
 * HTTP status, or a network failure. Retryable means "the same request may succeed later";
 * `reachedPlaid` says whether Plaid may have done the work, which decides whether a retry of a
 * call that must happen once (exchange, processor token) is safe.
 */
import type { ErrorInfo } from '../workflows/types';

/**
 * - `no`: the request certainly did not reach Plaid (no connection, name not resolved, refused
 *   locally) — nothing happened there, retrying is safe.
 * - `answered`: Plaid answered with an error body — it reports it did not do the work.
 * - `maybe`: the request may have been processed and the answer lost (timeout after sending,
 *   connection reset, socket hang up, cancelled in flight, 5xx without Plaid's body from a proxy).
 */
export type ReachedPlaid = 'no' | 'answered' | 'maybe';

export interface PlaidErrorInfo extends ErrorInfo {
  type: string;
  status: number | null;
  requestId: string | null;
  retryable: boolean;
  reachedPlaid: ReachedPlaid;
}

/**
 * Errors raised before a byte of the request left this process (DNS, connect, TLS setup, a bad
 * URL). Anything else without a response — ECONNRESET, EPIPE, ETIMEDOUT, ECONNABORTED (axios
 * timeout), ERR_CANCELED (aborted), codes we do not know — may have reached Plaid: the harsher
 * reading, because retrying a done exchange spends the token for nothing and hides the Item.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

const RETRYABLE_CODES = new Set([
  'RATE_LIMIT',
  'INTERNAL_SERVER_ERROR',
  'PLANNED_MAINTENANCE',
  'INSTITUTION_DOWN',
  'INSTITUTION_NOT_RESPONDING',
  'INSTITUTION_NOT_AVAILABLE',
  'PRODUCT_NOT_READY',
]);
const RETRYABLE_TYPES = new Set(['RATE_LIMIT_EXCEEDED', 'API_ERROR']);

interface AxiosLike {
  isAxiosError?: boolean;
  code?: string;
  message?: string;
  response?: { status?: number; data?: unknown };
}

export function classifyPlaidError(err: unknown): PlaidErrorInfo {
  const e = (err ?? {}) as AxiosLike;
  const status = e.response?.status ?? null;
  const body = (e.response?.data ?? null) as Record<string, unknown> | null;
  if (body && typeof body === 'object' && typeof body.error_code === 'string') {
    const code = body.error_code;
    const type = typeof body.error_type === 'string' ? body.error_type : 'UNKNOWN';
    const retryable =
      RETRYABLE_CODES.has(code) ||
      RETRYABLE_TYPES.has(type) ||
      status === 429 ||
      (status !== null && status >= 500);
    return {
      code,
      type,
      message: typeof body.error_message === 'string' ? body.error_message : code,
      status,
      requestId: typeof body.request_id === 'string' ? body.request_id : null,
      retryable,
      // Plaid's own INTERNAL_SERVER_ERROR does not say how far the work got: the harsher reading.
      reachedPlaid: code === 'INTERNAL_SERVER_ERROR' ? 'maybe' : 'answered',
    };
  }
  if (status !== null) {
    return {
      code: `HTTP_${status}`,
      type: 'HTTP_ERROR',
      message: e.message ?? `HTTP ${status}`,
      status,
      requestId: null,
      retryable: status === 429 || status >= 500,
      // A 5xx without Plaid's error body comes from something in between (load balancer, proxy)
      // that may have given up after forwarding; a bodiless 4xx (429 included) was refused there.
      reachedPlaid: status >= 500 ? 'maybe' : 'no',
    };
  }
  // No response at all: connection refused, reset, timeout. Always worth another try — but only
  // blindly when the request never left.
  const code = e.code ?? 'NETWORK_ERROR';
  return {
    code,
    type: 'NETWORK_ERROR',
    message: e.message ?? String(err),
    status: null,
    requestId: null,
    retryable: true,
    reachedPlaid: NOT_SENT_CODES.has(code) ? 'no' : 'maybe',
  };
}
