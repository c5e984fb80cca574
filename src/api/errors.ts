/**
 * Every error the API answers is JSON `{ error: { code, message, ...extra } }`. Handlers throw an
 * ApiError; the app's error handler turns it into the response.
 */
import {
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  NamespaceNotFoundError,
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

const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC error of a failed Temporal call: the error itself, or the cause the SDK wrapped. */
function grpcErrorOf(err: unknown): { code: number; details: string } | undefined {
  for (const candidate of [err, (err as { cause?: unknown } | null)?.cause]) {
    if (isGrpcServiceError(candidate)) {
      return { code: candidate.code, details: candidate.details || candidate.message };
    }
  }
  return undefined;
}

/** Codes meaning "Temporal could not answer now": connection lost, deadline, overload, cancelled. */
const UNAVAILABLE_CODES = new Set<number>([
  GRPC.UNAVAILABLE,
  GRPC.DEADLINE_EXCEEDED,
  GRPC.CANCELLED,
  GRPC.RESOURCE_EXHAUSTED,
  GRPC.ABORTED,
  GRPC.UNKNOWN,
]);

/**
 * True when a Temporal call failed because Temporal could not be reached or did not answer in
 * time (as opposed to a definite answer such as "not found" or "search attribute not defined").
 */
export function isTemporalUnavailable(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  if (isGrpcDeadlineError(err) || isGrpcCancelledError(err)) return true;
  const grpc = grpcErrorOf(err);
  if (grpc) return UNAVAILABLE_CODES.has(grpc.code);
  // A ServiceError without a gRPC status: the SDK could not complete the call at all.
  return err instanceof ServiceError;
}

export function temporalUnavailable(err: unknown): ApiError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiError(503, 'TEMPORAL_UNAVAILABLE', `Temporal did not answer: ${detail}`, { retryable: true });
}

/**
 * Temporal answered, and refused because of how it is set up for linkflow: a search attribute or
 * the namespace not registered, credentials refused. Retrying does not help; an operator must
 * (deploy/temporal-setup.sh registers both). Not "Temporal unavailable": it is up.
 */
export function temporalConfigurationError(err: unknown): ApiError | undefined {
  if (err instanceof NamespaceNotFoundError) {
    return new ApiError(
      500,
      'TEMPORAL_CONFIGURATION_ERROR',
      `Temporal refused the request because of its configuration: ${err.message}`,
      { retryable: false },
    );
  }
  const grpc = grpcErrorOf(err);
  if (!grpc) return undefined;
  const setup =
    (grpc.code === GRPC.INVALID_ARGUMENT && /search attribute/i.test(grpc.details)) ||
    (grpc.code === GRPC.NOT_FOUND && /namespace/i.test(grpc.details)) ||
    grpc.code === GRPC.PERMISSION_DENIED ||
    grpc.code === GRPC.UNAUTHENTICATED;
  if (!setup) return undefined;
  return new ApiError(
    500,
    'TEMPORAL_CONFIGURATION_ERROR',
    `Temporal refused the request because of its configuration: ${grpc.details}`,
    { retryable: false },
  );
}

/** PostgreSQL error classes (SQLSTATE) meaning "the database cannot serve now", not "bad query". */
const DB_UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;
/** What node-postgres and the socket report when the server is gone or restarting. */
const DB_UNAVAILABLE_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|the database system is (starting up|shutting down|in recovery mode)/i;
const DB_UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * A PostgreSQL blip (restart, failover, connection limit): the request did nothing durable and may
 * be retried, so a 503 saying so instead of an opaque 500.
 */
export function databaseUnavailable(err: unknown): ApiError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    const blip =
      (typeof code === 'string' && (DB_UNAVAILABLE_SQLSTATE.test(code) || DB_UNAVAILABLE_ERRNO.has(code))) ||
      (typeof message === 'string' && DB_UNAVAILABLE_MESSAGE.test(message));
    if (blip) {
      return new ApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unavailable; retry shortly', {
        retryable: true,
      });
    }
  }
  return undefined;
}

/**
 * What an error no handler turned into an ApiError really was, when it is a known outside failure
 * (Temporal unreachable or misconfigured, the database unavailable); undefined for a real bug.
 */
export function classifyUnexpectedError(err: unknown): ApiError | undefined {
  if (grpcErrorOf(err) || err instanceof ServiceError || err instanceof NamespaceNotFoundError) {
    const configuration = temporalConfigurationError(err);
    if (configuration) return configuration;
    return isTemporalUnavailable(err) ? temporalUnavailable(err) : undefined;
  }
  return databaseUnavailable(err);
}
