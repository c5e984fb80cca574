/**
 * The request pipeline shared by every Plaid route, in Plaid's order of concerns:
 *   1. a `request_id` for the response, whatever happens;
 *   2. injected faults, consumed before anything else: mode `error` answers at once (a faulted
 *      exchange burns no public token); `lose_response` and `delay` let the work happen first;
 *   3. the JSON body (INVALID_BODY when it is not JSON);
 *   4. credentials from the PLAID-CLIENT-ID / PLAID-SECRET headers or the body;
 *   5. the route's schema (MISSING_FIELDS / UNKNOWN_FIELDS / INVALID_FIELD);
 *   6. the handler, whose answer gets the `request_id`;
 *   7. the state made durable (fsync'd) before anything is answered.
 */
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
import { faultError, resetConnection, sleep, takeFault } from './faults';
import { newRequestId } from './ids';
import { parseWithPlaidErrors } from './validation';

export interface PlaidCall {
  clientId: string;
  requestId: string;
  headers: Headers;
  /** The request URL, for answers that point back at the emulator (Hosted Link). */
  url: string;
}

/** A handler returns a body typed with the `plaid` package's response type, and optionally a status. */
export type PlaidReply = { status?: ContentfulStatusCode; body: { request_id: string } };

export type PlaidHandler<T> = (input: T, call: PlaidCall) => PlaidReply | Promise<PlaidReply>;

export class PlaidRouter {
  readonly paths = new Set<string>();

  constructor(
    private readonly app: Hono,
    private readonly ctx: EmulatorContext,
  ) {}

  post<S extends z.ZodType>(path: string, schema: S, handler: PlaidHandler<z.infer<S>>): void {
    this.paths.add(path);
    this.app.post(path, async (c) => {
      const requestId = newRequestId();
      const fault = takeFault(this.ctx, path);
      let response: Response;
      try {
        if (fault && (fault.mode ?? 'error') === 'error') throw faultError(fault);
        const rngBefore = [...this.ctx.state.rng];
        let reply: PlaidReply;
        try {
          const body = await readJsonBody(c);
          const clientId = this.authenticate(c, body);
          delete body.client_id;
          delete body.secret;
          const input = parseWithPlaidErrors(schema, body);
          reply = await handler(input, {
            clientId,
            requestId,
            headers: c.req.raw.headers,
            url: c.req.url,
          });
        } finally {
          // Anything that drew an id changed the state, whether or not the route said so.
          if (this.ctx.state.rng.some((v, i) => v !== rngBefore[i])) this.ctx.changed();
        }
        this.ctx.log('plaid request', { path, status: reply.status ?? 200, request_id: requestId });
        response = c.json(reply.body, reply.status ?? 200);
      } catch (err) {
        response = plaidErrorResponse(c, this.ctx, err, requestId, path);
        if (fault?.retry_after_s != null) response.headers.set('Retry-After', String(fault.retry_after_s));
      }
      // Durable before the answer: a SIGKILL after this point loses nothing the caller was told.
      try {
        await this.ctx.commit();
      } catch (err) {
        return plaidErrorResponse(c, this.ctx, err, requestId, path);
      }
      if (fault?.mode === 'lose_response') {
        this.ctx.log('plaid response lost (fault)', { path, request_id: requestId });
        if (resetConnection(c)) return response;
        // In-process callers have no connection to reset: the nearest thing is a gateway failure.
        return c.json(new PlaidApiError('INTERNAL_SERVER_ERROR').toBody(requestId), 502);
      }
      if (fault?.mode === 'delay') await sleep(fault.delay_ms ?? 0);
      return response;
    });
  }

  /**
   * Plaid takes credentials from headers or body. A missing or empty one is a malformed field to
   * Plaid (INVALID_FIELD, observed on the real Sandbox host); a well-formed pair it does not know is
   * INVALID_API_KEYS. Here any non-empty pair is known unless `clientCredentials` pins them down.
   */
  private authenticate(c: Context, body: Record<string, unknown>): string {
    const pick = (header: string, field: string): unknown => {
      const h = c.req.header(header);
      return h !== undefined && h !== '' ? h : body[field];
    };
    const clientId = pick('PLAID-CLIENT-ID', 'client_id');
    const secret = pick('PLAID-SECRET', 'secret');
    if (typeof clientId !== 'string' || clientId.trim() === '') {
      throw fail.invalidField('client_id must be a properly formatted, non-empty string');
    }
    if (typeof secret !== 'string' || secret.trim() === '') {
      throw fail.invalidField('secret must be a properly formatted, non-empty string');
    }
    const known = this.ctx.opts.clientCredentials;
    if (known && known[clientId] !== secret) throw new PlaidApiError('INVALID_API_KEYS');
    return clientId;
  }
}

export async function readJsonBody(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  const text = await c.req.text();
  if (!type.toLowerCase().includes('application/json')) throw new PlaidApiError('INVALID_BODY');
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new PlaidApiError('INVALID_BODY');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new PlaidApiError('INVALID_BODY');
  return parsed as Record<string, unknown>;
}

export function plaidErrorResponse(
  c: Context,
  ctx: EmulatorContext,
  err: unknown,
  requestId: string,
  path: string,
) {
  if (err instanceof PlaidApiError) {
    ctx.log('plaid error', { path, error_code: err.code, status: err.status, request_id: requestId });
    return c.json(err.toBody(requestId), err.status as ContentfulStatusCode);
  }
  ctx.log('emulator internal error', { path, error: err instanceof Error ? err.stack : String(err) });
  return c.json(new PlaidApiError('INTERNAL_SERVER_ERROR').toBody(requestId), 500);
}
