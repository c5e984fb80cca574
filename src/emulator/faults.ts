/**
 * Injected faults on Plaid routes, the ways Plaid (or the network to it) fails a caller:
 *  - `error`: the call is refused with a Plaid error before any work (optionally a 429 with
 *    `Retry-After`, as Plaid's rate limits answer);
 *  - `lose_response`: Plaid does the work and keeps it, but the caller's connection is reset
 *    before an answer (a timeout or proxy failure after the request left): the caller cannot
 *    know whether it happened;
 *  - `delay`: the work is done at once and kept, the answer comes `delay_ms` later, so a client
 *    timeout fires although the work happened.
 */
import type { Socket } from 'node:net';
import type { Context } from 'hono';
import { z } from 'zod';
import type { EmulatorContext } from './context';
import { fail, isKnownErrorCode, PLAID_ERRORS, PlaidApiError } from './errors';
import type { FaultRecord } from './state';

export const faultSchema = z.strictObject({
  path: z.string().startsWith('/'),
  mode: z.enum(['error', 'lose_response', 'delay']).optional(),
  error_code: z.string().min(1).optional(),
  times: z.int().min(1).optional(),
  http_status: z.int().min(400).max(599).optional(),
  delay_ms: z.int().min(0).max(600_000).optional(),
  retry_after_s: z.int().min(0).max(86_400).optional(),
});

export type FaultInput = z.infer<typeof faultSchema>;

/** Validates a fault request against the emulated routes and records it. */
export function addFault(ctx: EmulatorContext, plaidPaths: ReadonlySet<string>, input: FaultInput) {
  if (!plaidPaths.has(input.path)) {
    throw fail.invalidField(`path must be one of the emulated Plaid routes: ${[...plaidPaths].join(', ')}`);
  }
  const mode = input.mode ?? 'error';
  if (mode === 'error') {
    if (input.error_code === undefined) throw fail.missingFields(['error_code']);
    if (!isKnownErrorCode(input.error_code)) {
      throw fail.invalidField(`error_code must be one of: ${Object.keys(PLAID_ERRORS).join(', ')}`);
    }
  } else if (input.error_code !== undefined || input.http_status !== undefined) {
    throw fail.invalidField(`error_code and http_status only apply to mode "error", not "${mode}"`);
  }
  if (mode === 'delay' && input.delay_ms === undefined) throw fail.missingFields(['delay_ms']);
  if (mode !== 'delay' && input.delay_ms !== undefined) {
    throw fail.invalidField('delay_ms only applies to mode "delay"');
  }
  const status =
    mode === 'error' ? (input.http_status ?? PLAID_ERRORS[input.error_code as string]?.status) : undefined;
  if (input.retry_after_s !== undefined && status !== 429) {
    throw fail.invalidField('retry_after_s only applies to errors answered with HTTP 429');
  }
  const times = input.times ?? 1;
  const record: FaultRecord = {
    path: input.path,
    error_code: mode === 'error' ? (input.error_code ?? null) : null,
    remaining: times,
    http_status: input.http_status ?? null,
    mode,
    delay_ms: input.delay_ms ?? null,
    retry_after_s: input.retry_after_s ?? null,
  };
  ctx.state.faults.push(record);
  ctx.changed();
  const spec = record.error_code ? PLAID_ERRORS[record.error_code] : undefined;
  return {
    path: record.path,
    mode,
    error_code: record.error_code,
    ...(spec ? { error_type: spec.type, http_status: status } : {}),
    ...(record.delay_ms !== null ? { delay_ms: record.delay_ms } : {}),
    ...(record.retry_after_s !== null ? { retry_after_s: record.retry_after_s } : {}),
    times,
  };
}

/** Consumes the next fault for `path`, if any (counted in `faults_injected`). */
export function takeFault(ctx: EmulatorContext, path: string): FaultRecord | null {
  const fault = ctx.state.faults.find((f) => f.path === path && f.remaining > 0);
  if (!fault) return null;
  fault.remaining--;
  ctx.state.faults = ctx.state.faults.filter((f) => f.remaining > 0);
  ctx.state.faults_injected[path] = (ctx.state.faults_injected[path] ?? 0) + 1;
  ctx.changed();
  return fault;
}

/** The error a fault in mode `error` answers with. */
export function faultError(fault: FaultRecord): PlaidApiError {
  return new PlaidApiError(fault.error_code ?? 'INTERNAL_SERVER_ERROR', {
    ...(fault.http_status ? { status: fault.http_status } : {}),
  });
}

/**
 * Resets the caller's TCP connection without an answer (the plaid client, axios, sees ECONNRESET).
 * Returns false when there is no socket (the app called in-process through `app.request`).
 */
export function resetConnection(c: Context): boolean {
  const incoming = (c.env as { incoming?: { socket?: Socket } } | undefined)?.incoming;
  const socket = incoming?.socket;
  if (!socket) return false;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
