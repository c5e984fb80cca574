/**
 * Which failures of a Plaid call may have reached Plaid: the line between "retry freely" and
 * "the work may be done, a retry must not be read as a plain failure".
 */
import { describe, expect, it } from 'vitest';
import { classifyPlaidError } from '../../src/plaid/errors';

const network = (code: string, message = code) =>
  Object.assign(new Error(message), { isAxiosError: true, code });
const http = (status: number, data: unknown = '') =>
  Object.assign(new Error(`Request failed with status code ${status}`), {
    isAxiosError: true,
    code: 'ERR_BAD_RESPONSE',
    response: { status, data },
  });
const plaidBody = (error_code: string, error_type = 'INVALID_INPUT') => ({
  error_code,
  error_type,
  error_message: `${error_code} happened`,
  request_id: 'req-1',
});

describe('classifyPlaidError: did the request reach Plaid?', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])(
    '%s: certainly not sent, retryable',
    (code) => {
      expect(classifyPlaidError(network(code))).toMatchObject({ code, reachedPlaid: 'no', retryable: true });
    },
  );

  it.each([
    ['ECONNRESET', 'read ECONNRESET'],
    ['ECONNRESET', 'socket hang up'],
    ['EPIPE', 'write EPIPE'],
    ['ECONNABORTED', 'timeout of 20000ms exceeded'],
    ['ETIMEDOUT', 'timeout of 20000ms exceeded'],
    ['ERR_CANCELED', 'canceled'],
    ['ESOMETHINGNEW', 'an error code nobody listed'],
  ])('%s (%s): may have reached Plaid, retryable', (code, message) => {
    expect(classifyPlaidError(network(code, message))).toMatchObject({
      code,
      reachedPlaid: 'maybe',
      retryable: true,
    });
  });

  it('an error without any code (not even axios) is read as maybe reached', () => {
    expect(classifyPlaidError(new Error('boom'))).toMatchObject({
      code: 'NETWORK_ERROR',
      reachedPlaid: 'maybe',
    });
  });

  it.each([502, 503, 504])('HTTP %i without Plaid body (a proxy): maybe, retryable', (status) => {
    expect(classifyPlaidError(http(status))).toMatchObject({
      code: `HTTP_${status}`,
      reachedPlaid: 'maybe',
      retryable: true,
    });
  });

  it('HTTP 429 without a body: refused before any work, retryable', () => {
    expect(classifyPlaidError(http(429))).toMatchObject({ reachedPlaid: 'no', retryable: true });
  });

  it('HTTP 404 without a body: refused, not retryable', () => {
    expect(classifyPlaidError(http(404))).toMatchObject({ reachedPlaid: 'no', retryable: false });
  });

  it('INVALID_PUBLIC_TOKEN: Plaid answered, permanent', () => {
    expect(classifyPlaidError(http(400, plaidBody('INVALID_PUBLIC_TOKEN')))).toMatchObject({
      code: 'INVALID_PUBLIC_TOKEN',
      type: 'INVALID_INPUT',
      reachedPlaid: 'answered',
      retryable: false,
      requestId: 'req-1',
    });
  });

  it('RATE_LIMIT_EXCEEDED body: answered (nothing done), retryable', () => {
    expect(classifyPlaidError(http(429, plaidBody('RATE_LIMIT', 'RATE_LIMIT_EXCEEDED')))).toMatchObject({
      reachedPlaid: 'answered',
      retryable: true,
    });
  });

  it("Plaid's own INTERNAL_SERVER_ERROR does not say how far it got: maybe, retryable", () => {
    expect(classifyPlaidError(http(500, plaidBody('INTERNAL_SERVER_ERROR', 'API_ERROR')))).toMatchObject({
      reachedPlaid: 'maybe',
      retryable: true,
    });
  });

  it('PLANNED_MAINTENANCE: answered, retryable', () => {
    expect(classifyPlaidError(http(503, plaidBody('PLANNED_MAINTENANCE', 'API_ERROR')))).toMatchObject({
      reachedPlaid: 'answered',
      retryable: true,
    });
  });
});
