/**
 * Bearer-token checks in constant time: both sides are hashed first, so neither the length nor
 * the content of the key leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { ApiError } from '../errors';
import type { AppEnv } from '../types';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

export function bearerToken(c: Context): string | null {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}

/** True when the request carries one of the accepted tokens (every candidate is compared). */
export function hasValidToken(c: Context, accepted: ReadonlyArray<string | null | undefined>): boolean {
  const token = bearerToken(c);
  if (token === null) return false;
  let ok = false;
  for (const candidate of accepted) {
    if (candidate && tokensEqual(token, candidate)) ok = true;
  }
  return ok;
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'UNAUTHORIZED', 'missing or invalid bearer token');
}

export function requireApiKey(apiKey: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!hasValidToken(c, [apiKey])) {
      c.header('WWW-Authenticate', 'Bearer realm="linkflow"');
      throw unauthorized();
    }
    await next();
  });
}
