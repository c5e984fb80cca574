/** Reading JSON bodies into zod schemas, with the API's 400s. */
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError, validationError } from './errors';

export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
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
