/**
 * Every error the API answers is JSON `{ error: { code, message, ...extra } }`. Handlers throw an
 * ApiError; the app's error handler turns it into the response.
 */
import {
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  ServiceError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';

export interface ErrorBody {
  error: { code: string; message: string; [extra: string]: unknown };
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...this.extra } };
  }
}

export function errorResponse(c: Context, err: ApiError): Response {
  return c.json(err.body(), err.status);
}

/** A 400 naming the first offending field (`error.field`, dotted path) of a zod failure. */
export function validationError(error: ZodError, root = 'body'): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError(400, 'VALIDATION_ERROR', `invalid ${root}`, { field: root });
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  const field = path.length > 0 ? path.join('.') : root;
  const message =
    issue.code === 'unrecognized_keys' ? `${field}: unknown field` : `${field}: ${issue.message}`;
  return new ApiError(400, 'VALIDATION_ERROR', message, { field });
}

/**
 * True when a Temporal call failed because Temporal could not be reached or did not answer in
 * time (as opposed to a definite answer such as "not found").
 */
export function isTemporalUnavailable(err: unknown): boolean {
  return (
    err instanceof ServiceError ||
    err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
    isGrpcServiceError(err) ||
    isGrpcDeadlineError(err) ||
    isGrpcCancelledError(err)
  );
}

export function temporalUnavailable(err: unknown): ApiError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiError(503, 'TEMPORAL_UNAVAILABLE', `Temporal did not answer: ${detail}`, { retryable: true });
}
