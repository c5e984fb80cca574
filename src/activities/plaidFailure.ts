/**
 * Turns a Plaid failure into what Temporal should do with it: retryable errors (rate limits, 5xx,
 * maintenance, network) are thrown as retryable failures so the activity's retry policy backs off;
 * permanent ones (INVALID_* and the like) are non-retryable with the Plaid error code as type.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { classifyPlaidError, type PlaidErrorInfo } from '../plaid/errors';

export function plaidFailure(err: unknown, what: string): ApplicationFailure {
  const info = classifyPlaidError(err);
  const message = `${what}: ${info.code} ${info.message}${info.requestId ? ` (request ${info.requestId})` : ''}`;
  return info.retryable
    ? ApplicationFailure.retryable(message, info.code, publicDetails(info))
    : ApplicationFailure.nonRetryable(message, info.code, publicDetails(info));
}

function publicDetails(info: PlaidErrorInfo) {
  return {
    code: info.code,
    type: info.type,
    status: info.status,
    request_id: info.requestId,
    retryable: info.retryable,
  };
}
