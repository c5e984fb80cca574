/**
 * Verifies Plaid's `Plaid-Verification` header the way Plaid documents it:
 *
 * 1. the header is a compact JWS whose protected header says `alg: ES256` (anything else —
 *    `none`, HS256, RS256 — is refused before any key is looked at, so no algorithm confusion);
 *    Every segment must be canonical base64url (no padding, whitespace or stray bits), so one
 *    signature has exactly one spelling;
 * 2. the key is Plaid's verification key for the header's `kid`, fetched from
 *    `/webhook_verification_key/get` and cached by kid for minutes (concurrent look-ups of one kid
 *    share one fetch; failures are not cached; a key whose `expired_at` has passed is refused).
 *    As Plaid's reference verifier does, the first webhook under a new kid makes every cached key
 *    be fetched again, so a rotated-out key learns its `expired_at` at once rather than at its
 *    next refresh. A kid Plaid does not know is remembered for a minute, and new kids are looked
 *    up at a bounded rate per source (the sender's address), so forged webhooks cannot make
 *    linkflow call Plaid at will, nor use up the look-ups a genuine new key needs;
 * 3. the signature checks out, `iat` is at most `maxAgeSeconds` old and not in the future beyond
 *    a small skew;
 * 4. `request_body_sha256` equals the SHA-256 (hex) of the exact bytes received, compared in
 *    constant time. Re-serialised JSON would not match: the raw body is what counts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type CryptoKey, decodeProtectedHeader, errors, importJWK, type JWTPayload, jwtVerify } from 'jose';
import type { WebhookKeySource, WebhookVerificationKey } from './deps';

export type VerificationFailureReason =
  | 'missing_header'
  | 'malformed_jwt'
  | 'unsupported_alg'
  | 'missing_kid'
  | 'unknown_kid'
  | 'unusable_key'
  | 'key_expired'
  /** Plaid could not be asked for the key: the caller should answer 503 so Plaid retries. */
  | 'key_unavailable'
  | 'bad_signature'
  | 'invalid_claims'
  | 'stale'
  | 'issued_in_future'
  | 'body_mismatch';

export type VerificationResult = { ok: true } | { ok: false; reason: VerificationFailureReason };

export interface WebhookVerifierOptions {
  fetchKey: WebhookKeySource;
  now?: () => Date;
  /** Oldest acceptable `iat`, in seconds (Plaid: 5 minutes). */
  maxAgeSeconds?: number;
  /** How far in the future `iat` may be (clock skew), in seconds. */
  clockSkewSeconds?: number;
  /**
   * A current key (no `expired_at`) is fetched again after this long (default 5 minutes), to
   * learn whether Plaid has expired it since; if that fetch fails the cached copy keeps serving,
   * for at most `maxKeyStaleSeconds` since it was last confirmed (default 3 × the refresh).
   */
  keyRefreshSeconds?: number;
  maxKeyStaleSeconds?: number;
  /**
   * A kid Plaid said it does not know is refused without asking again for this long: a forged
   * webhook must not turn into a Plaid call each time it is sent.
   */
  unknownKidSeconds?: number;
  /**
   * At most this many look-ups of kids not in the cache per minute and per source; past it a new
   * kid answers `key_unavailable` (503, so Plaid retries a genuine webhook) instead of reaching
   * Plaid. Floods of random kids from one address then cost Plaid calls at this rate, and leave
   * other senders' budgets (Plaid's) alone.
   */
  maxNewKidLookupsPerMinute?: number;
  /** A ceiling over all sources together (default 10 × the per-source budget). */
  maxNewKidLookupsPerMinuteTotal?: number;
}

export interface WebhookVerifier {
  /** `source`: who sent it (the peer address), for the per-source look-up budget. */
  verify(rawBody: Uint8Array, header: string | undefined, source?: string): Promise<VerificationResult>;
}

interface CachedKey {
  key: CryptoKey | Uint8Array;
  expiredAt: number | null;
  fetchedAtMs: number;
  /** A new kid appeared since: fetch again before trusting this one (see the file comment). */
  mustRefresh: boolean;
}

class UnusableKeyError extends Error {}
class LookupBudgetExhausted extends Error {}

/** Bounds the memory of unknown kids remembered (oldest forgotten first). */
const MAX_UNKNOWN_KIDS = 10_000;

/** Bounds the number of sources whose look-up budget is tracked (oldest forgotten first). */
const MAX_SOURCES = 10_000;

const MAX_HEADER_LENGTH = 8192;
const KID_PATTERN = /^[\w.:-]{1,256}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Canonical base64url: the only spelling of its bytes (no padding, whitespace or stray low bits). */
function isCanonicalBase64url(segment: string): boolean {
  return BASE64URL.test(segment) && Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

async function importPlaidKey(jwk: WebhookVerificationKey): Promise<CryptoKey | Uint8Array> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || (jwk.alg !== undefined && jwk.alg !== 'ES256')) {
    throw new UnusableKeyError(`not an ES256 key (kty ${jwk.kty}, crv ${jwk.crv}, alg ${jwk.alg})`);
  }
  try {
    return await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');
  } catch (err) {
    throw new UnusableKeyError(err instanceof Error ? err.message : String(err));
  }
}

export function createWebhookVerifier(opts: WebhookVerifierOptions): WebhookVerifier {
  const now = opts.now ?? (() => new Date());
  const maxAge = opts.maxAgeSeconds ?? 300;
  const skew = opts.clockSkewSeconds ?? 30;
  const refreshMs = (opts.keyRefreshSeconds ?? 300) * 1000;
  const maxStaleMs = (opts.maxKeyStaleSeconds ?? (opts.keyRefreshSeconds ?? 300) * 3) * 1000;
  const unknownMs = (opts.unknownKidSeconds ?? 60) * 1000;
  const lookupsPerMinute = opts.maxNewKidLookupsPerMinute ?? 30;
  const lookupsPerMinuteTotal = opts.maxNewKidLookupsPerMinuteTotal ?? lookupsPerMinute * 10;
  const cache = new Map<string, CachedKey>();
  const inflight = new Map<string, Promise<CachedKey | null>>();
  /** kid -> until when it is known to be unknown (ms). */
  const unknown = new Map<string, number>();
  /** When recent look-ups of new kids started (ms), per source and in total, for the budgets. */
  const lookupsBySource = new Map<string, number[]>();
  let lookups: number[] = [];

  function spendLookup(source: string, nowMs: number) {
    const recent = (lookupsBySource.get(source) ?? []).filter((at) => nowMs - at < 60_000);
    lookups = lookups.filter((at) => nowMs - at < 60_000);
    if (recent.length >= lookupsPerMinute || lookups.length >= lookupsPerMinuteTotal)
      throw new LookupBudgetExhausted();
    recent.push(nowMs);
    lookups.push(nowMs);
    lookupsBySource.delete(source);
    lookupsBySource.set(source, recent);
    if (lookupsBySource.size > MAX_SOURCES)
      lookupsBySource.delete(lookupsBySource.keys().next().value as string);
  }

  /** A new kid is in use: every other cached current key is fetched again (in the background). */
  function refreshOthers(newKid: string) {
    for (const [kid, entry] of cache) {
      if (kid === newKid || entry.expiredAt !== null) continue;
      entry.mustRefresh = true;
      void getKey(kid, '').catch(() => undefined);
    }
  }

  function rememberUnknown(kid: string, nowMs: number) {
    unknown.delete(kid);
    unknown.set(kid, nowMs + unknownMs);
    if (unknown.size > MAX_UNKNOWN_KIDS) unknown.delete(unknown.keys().next().value as string);
  }

  async function getKey(kid: string, source: string): Promise<CachedKey | null> {
    const cached = cache.get(kid);
    const nowMs = now().getTime();
    if (
      cached &&
      (cached.expiredAt !== null || (!cached.mustRefresh && nowMs - cached.fetchedAtMs < refreshMs))
    )
      return cached;
    let flight = inflight.get(kid);
    if (!flight) {
      if (!cached) {
        if ((unknown.get(kid) ?? 0) > nowMs) return null;
        spendLookup(source, nowMs);
      }
      flight = (async () => {
        const jwk = await opts.fetchKey(kid);
        if (!jwk || jwk.kid !== kid) {
          cache.delete(kid);
          rememberUnknown(kid, nowMs);
          return null;
        }
        unknown.delete(kid);
        const entry: CachedKey = {
          key: await importPlaidKey(jwk),
          expiredAt: jwk.expired_at ?? null,
          fetchedAtMs: nowMs,
          mustRefresh: false,
        };
        cache.set(kid, entry);
        if (!cached) refreshOthers(kid);
        return entry;
      })().finally(() => inflight.delete(kid));
      inflight.set(kid, flight);
    }
    try {
      return await flight;
    } catch (err) {
      // Plaid unreachable while refreshing a key we already trust: keep using it a while, but not
      // once a newer key is in use (it may be the one rotated out) nor past the staleness bound.
      const usable = cached && !cached.mustRefresh && nowMs - cached.fetchedAtMs < maxStaleMs;
      if (usable && !(err instanceof UnusableKeyError)) return cached;
      throw err;
    }
  }

  const fail = (reason: VerificationFailureReason): VerificationResult => ({ ok: false, reason });

  return {
    async verify(rawBody, header, source = 'unknown') {
      if (header === undefined || header === '') return fail('missing_header');
      const segments = header.split('.');
      if (header.length > MAX_HEADER_LENGTH || segments.length !== 3 || !segments.every(isCanonicalBase64url))
        return fail('malformed_jwt');
      let protectedHeader: ReturnType<typeof decodeProtectedHeader>;
      try {
        protectedHeader = decodeProtectedHeader(header);
      } catch {
        return fail('malformed_jwt');
      }
      if (protectedHeader.alg !== 'ES256') return fail('unsupported_alg');
      const kid = protectedHeader.kid;
      if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) return fail('missing_kid');

      let entry: CachedKey | null;
      try {
        entry = await getKey(kid, source);
      } catch (err) {
        return fail(err instanceof UnusableKeyError ? 'unusable_key' : 'key_unavailable');
      }
      if (!entry) return fail('unknown_kid');
      const current = now();
      const nowSeconds = current.getTime() / 1000;
      if (entry.expiredAt !== null && entry.expiredAt <= nowSeconds) return fail('key_expired');

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(header, entry.key, {
          algorithms: ['ES256'],
          currentDate: current,
          clockTolerance: skew,
        }));
      } catch (err) {
        if (err instanceof errors.JWSSignatureVerificationFailed) return fail('bad_signature');
        if (err instanceof errors.JWTClaimValidationFailed || err instanceof errors.JWTExpired) {
          return fail('invalid_claims');
        }
        return fail('malformed_jwt');
      }

      const iat = payload.iat;
      if (typeof iat !== 'number' || !Number.isFinite(iat)) return fail('invalid_claims');
      if (nowSeconds - iat > maxAge) return fail('stale');
      if (iat - nowSeconds > skew) return fail('issued_in_future');

      const claimed = payload.request_body_sha256;
      if (typeof claimed !== 'string') return fail('invalid_claims');
      const actual = Buffer.from(createHash('sha256').update(rawBody).digest('hex'), 'utf8');
      const expected = Buffer.from(claimed, 'utf8');
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
        return fail('body_mismatch');
      return { ok: true };
    },
  };
}

/** Whether a failure means "could not check now" (answer 503) rather than "not genuine" (401). */
export function isTransientVerificationFailure(reason: VerificationFailureReason): boolean {
  return reason === 'key_unavailable';
}
