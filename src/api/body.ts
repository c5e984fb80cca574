/** Reading JSON bodies into zod schemas, with the API's 400s. */
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError, validationError } from './errors';

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    // Strict UTF-8: a lenient decode would turn bad bytes into U+FFFD and accept an id the caller never sent.
    text = new TextDecoder('utf-8', { fatal: true }).decode(await c.req.arrayBuffer());
  } catch {
    throw new ApiError(400, 'INVALID_ENCODING', 'the request body is not valid UTF-8', { field: 'body' });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'INVALID_JSON', 'the request body is not valid JSON', { field: 'body' });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error);
  return parsed.data;
}
