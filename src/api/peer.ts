/**
 * Who is on the other end of a request, as far as the socket (not a header) can tell: for the
 * loopback-only exceptions of `npm start`'s composition.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { isLoopbackHost } from './config';

/** The peer's IP address from the socket; null when there is none (`app.request()` in tests). */
export function peerAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x.x.x). */
export function isLoopbackAddress(address: string | null): boolean {
  if (!address) return false;
  const unmapped = address.toLowerCase().replace(/^::ffff:/, '');
  return unmapped !== 'localhost' && isLoopbackHost(unmapped);
}

/** Headers a reverse proxy adds: a forwarded request is never treated as local. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip'];

export function isForwarded(c: Context): boolean {
  return FORWARDING_HEADERS.some((name) => c.req.header(name) !== undefined);
}
