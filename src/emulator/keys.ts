/**
 * Webhook signing keys, as Plaid uses them: an ES256 key pair per emulator run (kept across
 * restarts through the state file), identified by a `kid` that goes in the JWT header and is
 * looked up by integrators via `/webhook_verification_key/get`. Rotation marks the current key
 * expired and signs with a fresh one, so verifiers can be tested against an expired key.
 */
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { JWKPublicKey } from 'plaid';
import type { SigningKeyRecord } from './state';

type PrivateKey = Awaited<ReturnType<typeof importJWK>>;

const nowSeconds = () => Math.floor(Date.now() / 1000);

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function newSigningKeyRecord(): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    created_at: nowSeconds(),
    expired_at: null,
    private_jwk: { ...(await exportJWK(privateKey)), alg: 'ES256', kid },
    public_jwk: { ...(await exportJWK(publicKey)), alg: 'ES256', kid },
  };
}

export class SigningKeys {
  private readonly privateKeys = new Map<string, PrivateKey>();

  /** `records` is the state's array, mutated in place so persistence sees rotations. */
  private constructor(private readonly records: SigningKeyRecord[]) {}

  static async load(records: SigningKeyRecord[]): Promise<SigningKeys> {
    if (!records.some((r) => r.expired_at === null)) records.push(await newSigningKeyRecord());
    const keys = new SigningKeys(records);
    for (const r of records) keys.privateKeys.set(r.kid, await importJWK(r.private_jwk, 'ES256'));
    return keys;
  }

  current(): SigningKeyRecord {
    const active = this.records.filter((r) => r.expired_at === null);
    const latest = active[active.length - 1];
    if (!latest) throw new Error('no active webhook signing key');
    return latest;
  }

  async rotate(): Promise<{ expired: SigningKeyRecord; current: SigningKeyRecord }> {
    const expired = this.current();
    const fresh = await newSigningKeyRecord();
    this.privateKeys.set(fresh.kid, await importJWK(fresh.private_jwk, 'ES256'));
    expired.expired_at = nowSeconds();
    this.records.push(fresh);
    return { expired, current: fresh };
  }

  /** The JWK as `/webhook_verification_key/get` serves it. */
  publicKey(kid: string): JWKPublicKey | undefined {
    const r = this.records.find((k) => k.kid === kid);
    if (!r) return undefined;
    const { crv, kty, x, y } = r.public_jwk;
    if (!crv || !kty || !x || !y) throw new Error(`signing key ${kid} is not an EC public key`);
    return {
      alg: 'ES256',
      crv,
      kid: r.kid,
      kty,
      use: 'sig',
      x,
      y,
      created_at: r.created_at,
      expired_at: r.expired_at,
    };
  }

  /**
   * The `Plaid-Verification` header value for exactly these body bytes. `iat` is real time (not
   * the emulator clock) because verifiers check it against their own clock.
   */
  async sign(body: string): Promise<string> {
    const key = this.current();
    const privateKey = this.privateKeys.get(key.kid);
    if (!privateKey) throw new Error(`signing key ${key.kid} not loaded`);
    return new SignJWT({ request_body_sha256: sha256Hex(body) })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuedAt(nowSeconds())
      .sign(privateKey);
  }
}
