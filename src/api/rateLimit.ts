/**
 * A token bucket per caller for session creation: each `POST /link/sessions` (and the demo page's)
 * creates a Plaid user, a link token and a workflow, so one credential, or one key-less local
 * caller, may start at most `limit` sessions per `windowMs`, refilled steadily. In memory, per API
 * process: a bound on what one leaked key or runaway client can do, not a quota system.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { RateLimitRule } from '../config/rateLimit';
import { ApiError } from './errors';
import { bearerToken } from './middleware/auth';
import { peerAddress } from './peer';
import type { AppEnv } from './types';

const MAX_CALLERS = 10_000;

export function createRateLimiter(rule: RateLimitRule, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = rule.limit / rule.windowMs;
  return {
    /** Takes one token for `caller`: 0 when allowed, else the seconds until one is back. */
    take(caller: string): number {
      const t = now();
      const previous = buckets.get(caller);
      const tokens = previous
        ? Math.min(rule.limit, previous.tokens + (t - previous.at) * perMs)
        : rule.limit;
      buckets.delete(caller);
      if (buckets.size >= MAX_CALLERS) buckets.delete(buckets.keys().next().value as string);
      if (tokens < 1) {
        buckets.set(caller, { tokens, at: t });
        return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
      }
      buckets.set(caller, { tokens: tokens - 1, at: t });
      return 0;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
export type { RateLimitRule };

/** Who is creating: the credential presented (hashed), else the peer's address. */
function callerOf(c: Context): string {
  const token = bearerToken(c);
  if (token) return `key:${createHash('sha256').update(token).digest('hex')}`;
  return `peer:${peerAddress(c) ?? 'unknown'}`;
}

/** 429 with Retry-After once the caller's bucket is empty; a no-op without a limiter. */
export function limitSessionCreation(limiter: RateLimiter | null) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (limiter) {
      const retryAfter = limiter.take(callerOf(c));
      if (retryAfter > 0) {
        c.header('Retry-After', String(retryAfter));
        throw new ApiError(429, 'RATE_LIMITED', `too many sessions created; retry in ${retryAfter} s`, {
          retryable: true,
        });
      }
    }
    await next();
  });
}
