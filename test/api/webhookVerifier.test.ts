import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import type { WebhookVerificationKey } from '../../src/api/deps';
import { createWebhookVerifier } from '../../src/api/webhookVerifier';

const NOW = new Date('2026-03-01T12:00:00Z');
const nowSeconds = NOW.getTime() / 1000;
const enc = new TextEncoder();
const body = enc.encode(JSON.stringify({ webhook_type: 'LINK', webhook_code: 'ITEM_ADD_RESULT' }, null, 2));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function makeKey(kid = 'kid-1', expiredAt: number | null = null) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const key: WebhookVerificationKey = {
    kid,
    kty: 'EC',
    crv: 'P-256',
    x: jwk.x as string,
    y: jwk.y as string,
    alg: 'ES256',
    use: 'sig',
    created_at: nowSeconds - 86_400,
    expired_at: expiredAt,
  };
  return { privateKey, key, jwk };
}

async function sign(
  privateKey: Awaited<ReturnType<typeof makeKey>>['privateKey'],
  opts: { kid?: string; iat?: number; hash?: string } = {},
) {
  return new SignJWT({ request_body_sha256: opts.hash ?? sha(body) })
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'kid-1', typ: 'JWT' })
    .setIssuedAt(opts.iat ?? nowSeconds)
    .sign(privateKey);
}

async function setup(expiredAt: number | null = null) {
  const { privateKey, key, jwk } = await makeKey('kid-1', expiredAt);
  const fetchKey = vi.fn(async (kid: string) => (kid === key.kid ? key : null));
  let now = NOW;
  const verifier = createWebhookVerifier({ fetchKey, now: () => now, maxAgeSeconds: 300 });
  return { privateKey, key, jwk, fetchKey, verifier, setNow: (d: Date) => (now = d) };
}

describe('webhook verifier', () => {
  it('accepts a genuine webhook', async () => {
    const { privateKey, verifier } = await setup();
    expect(await verifier.verify(body, await sign(privateKey))).toEqual({ ok: true });
  });

  it('refuses a missing or empty header', async () => {
    const { verifier, fetchKey } = await setup();
    expect(await verifier.verify(body, undefined)).toEqual({ ok: false, reason: 'missing_header' });
    expect(await verifier.verify(body, '')).toEqual({ ok: false, reason: 'missing_header' });
    expect(fetchKey).not.toHaveBeenCalled();
  });

  it('refuses malformed tokens without fetching a key', async () => {
    const { verifier, fetchKey } = await setup();
    for (const header of ['garbage', 'a.b.c', 'a.b', `${b64url({ alg: 'ES256' })}.e30`, 'x'.repeat(10_000)]) {
      expect(await verifier.verify(body, header)).toEqual({ ok: false, reason: 'malformed_jwt' });
    }
    expect(fetchKey).not.toHaveBeenCalled();
  });

  it('refuses alg none and HS256 (even keyed with the public key) before any key lookup', async () => {
    const { verifier, fetchKey, jwk } = await setup();
    const none = `${b64url({ alg: 'none', kid: 'kid-1' })}.${b64url({ iat: nowSeconds, request_body_sha256: sha(body) })}.`;
    expect(await verifier.verify(body, none)).toEqual({ ok: false, reason: 'unsupported_alg' });
    const hs = await new SignJWT({ request_body_sha256: sha(body) })
      .setProtectedHeader({ alg: 'HS256', kid: 'kid-1' })
      .setIssuedAt(nowSeconds)
      .sign(enc.encode(JSON.stringify(jwk)));
    expect(await verifier.verify(body, hs)).toEqual({ ok: false, reason: 'unsupported_alg' });
    expect(fetchKey).not.toHaveBeenCalled();
  });

  it('refuses a token without kid, and an unknown kid', async () => {
    const { privateKey, verifier } = await setup();
    const noKid = await new SignJWT({ request_body_sha256: sha(body) })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuedAt(nowSeconds)
      .sign(privateKey);
    expect(await verifier.verify(body, noKid)).toEqual({ ok: false, reason: 'missing_kid' });
    expect(await verifier.verify(body, await sign(privateKey, { kid: 'kid-unknown' }))).toEqual({
      ok: false,
      reason: 'unknown_kid',
    });
  });

  it('refuses a signature by another key under a known kid', async () => {
    const { verifier } = await setup();
    const other = await makeKey();
    expect(await verifier.verify(body, await sign(other.privateKey))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a key whose expired_at has passed, and accepts it while expired_at is ahead', async () => {
    const expired = await setup(nowSeconds - 1);
    expect(await expired.verifier.verify(body, await sign(expired.privateKey))).toEqual({
      ok: false,
      reason: 'key_expired',
    });
    const expiring = await setup(nowSeconds + 600);
    expect(await expiring.verifier.verify(body, await sign(expiring.privateKey))).toEqual({ ok: true });
  });

  it('checks iat: 5 minutes is fine, 6 minutes is stale, 2 minutes ahead is refused', async () => {
    const { privateKey, verifier } = await setup();
    expect(await verifier.verify(body, await sign(privateKey, { iat: nowSeconds - 299 }))).toEqual({
      ok: true,
    });
    expect(await verifier.verify(body, await sign(privateKey, { iat: nowSeconds - 360 }))).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(await verifier.verify(body, await sign(privateKey, { iat: nowSeconds + 120 }))).toEqual({
      ok: false,
      reason: 'issued_in_future',
    });
    expect(await verifier.verify(body, await sign(privateKey, { iat: nowSeconds + 5 }))).toEqual({
      ok: true,
    });
  });

  it('compares the hash of the exact bytes', async () => {
    const { privateKey, verifier } = await setup();
    const header = await sign(privateKey);
    const changed = new Uint8Array(body);
    changed[changed.length - 2] = (changed[changed.length - 2] as number) ^ 1;
    expect(await verifier.verify(changed, header)).toEqual({ ok: false, reason: 'body_mismatch' });
    const reindented = enc.encode(JSON.stringify(JSON.parse(new TextDecoder().decode(body))));
    expect(await verifier.verify(reindented, header)).toEqual({ ok: false, reason: 'body_mismatch' });
    const noHash = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'kid-1' })
      .setIssuedAt(nowSeconds)
      .sign(privateKey);
    expect(await verifier.verify(body, noHash)).toEqual({ ok: false, reason: 'invalid_claims' });
  });

  it('fetches a kid once for concurrent webhooks (single flight) and caches it', async () => {
    const { privateKey, key } = await makeKey();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fetchKey = vi.fn(async () => {
      await gate;
      return key;
    });
    const verifier = createWebhookVerifier({ fetchKey, now: () => NOW });
    const header = await sign(privateKey);
    const pending = Array.from({ length: 10 }, () => verifier.verify(body, header));
    release();
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 10 }, () => ({ ok: true })));
    expect(await verifier.verify(body, header)).toEqual({ ok: true });
    expect(fetchKey).toHaveBeenCalledTimes(1);
  });

  it('does not cache failures: a failed fetch answers key_unavailable, the next one fetches again', async () => {
    const { privateKey, key } = await makeKey();
    const fetchKey = vi
      .fn<(kid: string) => Promise<WebhookVerificationKey | null>>()
      .mockRejectedValueOnce(new Error('ECONNREFUSED'))
      .mockResolvedValue(key);
    const verifier = createWebhookVerifier({ fetchKey, now: () => NOW });
    const header = await sign(privateKey);
    expect(await verifier.verify(body, header)).toEqual({ ok: false, reason: 'key_unavailable' });
    expect(await verifier.verify(body, header)).toEqual({ ok: true });
    expect(fetchKey).toHaveBeenCalledTimes(2);
  });

  it('remembers a kid Plaid does not know for a minute, then asks again', async () => {
    const { privateKey, key } = await makeKey();
    const fetchKey = vi
      .fn<(kid: string) => Promise<WebhookVerificationKey | null>>()
      .mockResolvedValueOnce(null)
      .mockResolvedValue(key);
    let now = NOW;
    const verifier = createWebhookVerifier({ fetchKey, now: () => now });
    const header = await sign(privateKey);
    for (let i = 0; i < 5; i++)
      expect(await verifier.verify(body, header)).toEqual({ ok: false, reason: 'unknown_kid' });
    expect(fetchKey).toHaveBeenCalledTimes(1);
    now = new Date(NOW.getTime() + 61_000);
    expect(await verifier.verify(body, await sign(privateKey, { iat: now.getTime() / 1000 }))).toEqual({
      ok: true,
    });
    expect(fetchKey).toHaveBeenCalledTimes(2);
  });

  it('looks up at most N new kids a minute: past that a new kid answers key_unavailable without reaching Plaid', async () => {
    const { privateKey } = await makeKey();
    const fetchKey = vi.fn(async (_kid: string): Promise<WebhookVerificationKey | null> => null);
    let now = NOW;
    const verifier = createWebhookVerifier({ fetchKey, now: () => now, maxNewKidLookupsPerMinute: 3 });
    const forged = (i: number) => sign(privateKey, { kid: `forged-${i}`, iat: now.getTime() / 1000 });
    const reasons = [];
    for (let i = 0; i < 5; i++) reasons.push(await verifier.verify(body, await forged(i)));
    expect(reasons.map((r) => (r.ok ? 'ok' : r.reason))).toEqual([
      'unknown_kid',
      'unknown_kid',
      'unknown_kid',
      'key_unavailable',
      'key_unavailable',
    ]);
    expect(fetchKey).toHaveBeenCalledTimes(3);
    now = new Date(NOW.getTime() + 60_000);
    expect(await verifier.verify(body, await forged(9))).toEqual({ ok: false, reason: 'unknown_kid' });
    expect(fetchKey).toHaveBeenCalledTimes(4);
  });

  it('re-fetches a current key after the refresh period, learns its expiry, and survives an outage meanwhile', async () => {
    const { privateKey, key } = await makeKey();
    let now = NOW;
    const fetchKey = vi
      .fn<(kid: string) => Promise<WebhookVerificationKey | null>>()
      .mockResolvedValueOnce(key)
      .mockRejectedValueOnce(new Error('Plaid down'))
      .mockResolvedValue({ ...key, expired_at: nowSeconds + 7000 });
    const verifier = createWebhookVerifier({ fetchKey, now: () => now, keyRefreshSeconds: 3600 });
    expect(await verifier.verify(body, await sign(privateKey))).toEqual({ ok: true });
    now = new Date(NOW.getTime() + 3601_000);
    const later = Math.floor(now.getTime() / 1000);
    // Refresh fails: the trusted copy keeps serving.
    expect(await verifier.verify(body, await sign(privateKey, { iat: later }))).toEqual({ ok: true });
    // Refresh succeeds and says the key expired a moment ago.
    now = new Date((nowSeconds + 7001) * 1000);
    expect(await verifier.verify(body, await sign(privateKey, { iat: nowSeconds + 7001 }))).toEqual({
      ok: false,
      reason: 'key_expired',
    });
    expect(fetchKey).toHaveBeenCalledTimes(3);
  });

  it('refuses a key that is not a P-256 key', async () => {
    const { privateKey, key } = await makeKey();
    const verifier = createWebhookVerifier({
      fetchKey: async () => ({ ...key, crv: 'P-384' }),
      now: () => NOW,
    });
    expect(await verifier.verify(body, await sign(privateKey))).toEqual({
      ok: false,
      reason: 'unusable_key',
    });
  });

  describe('issue 17', () => {
    it('refuses a rotated-out key as soon as a webhook under the new kid arrived (every cached key is re-fetched)', async () => {
      const old = await makeKey('kid-old');
      const fresh = await makeKey('kid-new');
      let rotated = false;
      const fetchKey = vi.fn(async (kid: string): Promise<WebhookVerificationKey | null> => {
        if (kid === 'kid-old') return rotated ? { ...old.key, expired_at: nowSeconds - 1 } : old.key;
        return kid === 'kid-new' && rotated ? fresh.key : null;
      });
      const verifier = createWebhookVerifier({ fetchKey, now: () => NOW });
      expect(await verifier.verify(body, await sign(old.privateKey, { kid: 'kid-old' }))).toEqual({
        ok: true,
      });
      rotated = true; // Plaid rotates: the old key has expired_at, webhooks are signed by the new one.
      expect(await verifier.verify(body, await sign(fresh.privateKey, { kid: 'kid-new' }))).toEqual({
        ok: true,
      });
      // Well inside the old key's cache lifetime, it is refused.
      expect(await verifier.verify(body, await sign(old.privateKey, { kid: 'kid-old' }))).toEqual({
        ok: false,
        reason: 'key_expired',
      });
      expect(fetchKey.mock.calls.map(([kid]) => kid)).toEqual(['kid-old', 'kid-new', 'kid-old']);
    });

    it('keeps a current key for minutes, not an hour, and not at all once stale and unconfirmable', async () => {
      const { privateKey, key } = await makeKey();
      let now = NOW;
      let plaidUp = true;
      const fetchKey = vi.fn(async () => {
        if (!plaidUp) throw new Error('Plaid down');
        return key;
      });
      const verifier = createWebhookVerifier({ fetchKey, now: () => now });
      const at = (seconds: number) => {
        now = new Date(NOW.getTime() + seconds * 1000);
        return sign(privateKey, { iat: Math.floor(now.getTime() / 1000) });
      };
      expect(await verifier.verify(body, await at(0))).toEqual({ ok: true });
      expect(await verifier.verify(body, await at(299))).toEqual({ ok: true });
      expect(fetchKey).toHaveBeenCalledTimes(1);
      expect(await verifier.verify(body, await at(301))).toEqual({ ok: true });
      expect(fetchKey).toHaveBeenCalledTimes(2); // re-fetched after 5 minutes
      plaidUp = false;
      expect(await verifier.verify(body, await at(610))).toEqual({ ok: true }); // an outage: the copy serves
      expect(await verifier.verify(body, await at(301 + 900))).toEqual({
        ok: false,
        reason: 'key_unavailable',
      });
    });

    it('budgets new-kid look-ups per source: a flood of forged kids from one address leaves Plaid’s own alone', async () => {
      const forger = await makeKey('kid-x');
      const genuine = await makeKey('kid-rotated-in');
      const fetchKey = vi.fn(async (kid: string) => (kid === genuine.key.kid ? genuine.key : null));
      const verifier = createWebhookVerifier({ fetchKey, now: () => NOW, maxNewKidLookupsPerMinute: 5 });
      const reasons: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await verifier.verify(
          body,
          await sign(forger.privateKey, { kid: `forged-${i}` }),
          '203.0.113.9',
        );
        reasons.push(r.ok ? 'ok' : r.reason);
      }
      expect(reasons.filter((r) => r === 'key_unavailable')).toHaveLength(3);
      const header = await sign(genuine.privateKey, { kid: 'kid-rotated-in' });
      expect(await verifier.verify(body, header, '52.21.26.131')).toEqual({ ok: true });
      // The total ceiling still bounds many sources together.
      const total = createWebhookVerifier({
        fetchKey,
        now: () => NOW,
        maxNewKidLookupsPerMinute: 5,
        maxNewKidLookupsPerMinuteTotal: 6,
      });
      for (let i = 0; i < 6; i++)
        await total.verify(body, await sign(forger.privateKey, { kid: `f-${i}` }), `10.0.0.${i}`);
      expect(await total.verify(body, header, '52.21.26.131')).toEqual({
        ok: false,
        reason: 'key_unavailable',
      });
    });

    it('refuses non-canonical base64url: whitespace, padding or stray bits in a genuine signature', async () => {
      const { privateKey, verifier, fetchKey } = await setup();
      const header = await sign(privateKey);
      expect(await verifier.verify(body, header)).toEqual({ ok: true });
      const [h, p, sig] = header.split('.') as [string, string, string];
      // 64 signature bytes in 86 characters: the last one carries 4 bits nobody reads.
      const last = sig.at(-1) as string;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const twin = [...alphabet].find(
        (ch) =>
          ch !== last &&
          Buffer.from(sig.slice(0, -1) + ch, 'base64url').equals(Buffer.from(sig, 'base64url')),
      );
      if (!twin) throw new Error('no twin spelling');
      const variants = [
        `${h}.${p}.${sig.slice(0, 40)} ${sig.slice(40)}`,
        `${h}.${p}.${sig.slice(0, 40)}\n${sig.slice(40)}`,
        `${h}.${p}.${sig}==`,
        `${h}.${p}.${sig.slice(0, -1)}${twin}`,
        `${h} .${p}.${sig}`,
      ];
      for (const variant of variants) {
        expect(await verifier.verify(body, variant)).toEqual({ ok: false, reason: 'malformed_jwt' });
      }
      expect(fetchKey).toHaveBeenCalledTimes(1);
    });
  });
});
