/**
 * Session ids are Plaid link tokens (`link-sandbox-<uuid>`, `link-production-<uuid>`, ...). An id
 * of any other shape is answered 404 without asking Temporal, which also keeps path tricks and
 * oversized strings away from workflow ids.
 */
export const LINK_TOKEN_PATTERN =
  /^link-(sandbox|production|development)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isLinkToken(value: unknown): value is string {
  return typeof value === 'string' && LINK_TOKEN_PATTERN.test(value);
}
