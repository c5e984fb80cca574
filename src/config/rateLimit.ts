/** A rate limit as configured: `120/1m` (120 per minute), or `off`. */
import { parseDuration } from './duration';

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

export function parseRateLimit(text: string): RateLimitRule | null {
  if (text.trim() === 'off') return null;
  const m = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a rate limit (expected e.g. 120/1m, or off)`);
  const limit = Number(m[1]);
  const windowMs = parseDuration(m[2] as string);
  if (limit < 1 || windowMs < 1) throw new Error(`"${text}": the limit and the window must be positive`);
  return { limit, windowMs };
}
