/**
 * The request pipeline shared by every Plaid route, in Plaid's order of concerns:
 *   1. a `request_id` for the response, whatever happens;
 *   2. injected faults, consumed before anything else (a faulted exchange burns no public token);
 *   3. the JSON body (INVALID_BODY when it is not JSON);
 *   4. credentials from the PLAID-CLIENT-ID / PLAID-SECRET headers or the body;
 *   5. the route's schema (MISSING_FIELDS / UNKNOWN_FIELDS / INVALID_FIELD);
 *   6. the handler, whose answer gets the `request_id`.
 */
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
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
      try {
        this.consumeFault(path);
        const body = await readJsonBody(c);
        const clientId = this.authenticate(c, body);
        delete body.client_id;
        delete body.secret;
        const input = parseWithPlaidErrors(schema, body);
        const reply = await handler(input, {
          clientId,
          requestId,
          headers: c.req.raw.headers,
          url: c.req.url,
        });
        this.ctx.log('plaid request', { path, status: reply.status ?? 200, request_id: requestId });
        return c.json(reply.body, reply.status ?? 200);
      } catch (err) {
        return plaidErrorResponse(c, this.ctx, err, requestId, path);
      }
    });
  }

  private consumeFault(path: string): void {
    const fault = this.ctx.state.faults.find((f) => f.path === path && f.remaining > 0);
    if (!fault) return;
    fault.remaining--;
    this.ctx.state.faults = this.ctx.state.faults.filter((f) => f.remaining > 0);
    this.ctx.state.faults_injected[path] = (this.ctx.state.faults_injected[path] ?? 0) + 1;
    this.ctx.changed();
    throw new PlaidApiError(fault.error_code, fault.http_status ? { status: fault.http_status } : {});
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
