/**
 * Classifies what the Plaid client threw: a PlaidError body (error_type, error_code, ...) with its
 * HTTP status, or a network failure. Retryable means "the same request may succeed later".
 */
import type { ErrorInfo } from '../workflows/types';

export interface PlaidErrorInfo extends ErrorInfo {
  type: string;
  status: number | null;
  requestId: string | null;
  retryable: boolean;
}

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
    };
  }
  // No response at all: connection refused, reset, timeout. Always worth another try.
  return {
    code: e.code ?? 'NETWORK_ERROR',
    type: 'NETWORK_ERROR',
    message: e.message ?? String(err),
    status: null,
    requestId: null,
    retryable: true,
  };
}
