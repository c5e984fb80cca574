/**
 * AES-256-GCM with a fresh random 12-byte IV per message. Optional AAD binds a ciphertext to its
 * context (for a column: the row it belongs to), so a ciphertext copied elsewhere fails to decrypt.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { type Keyring, keyFor } from './keyring';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const ENVELOPE_VERSION = 'v1';

function seal(key: Buffer, plaintext: Uint8Array, aad: string | undefined): { iv: Buffer; sealed: Buffer } {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv, sealed };
}

function open(key: Buffer, kid: string, iv: Uint8Array, sealed: Uint8Array, aad: string | undefined): Buffer {
  if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) {
    throw new Error(`decryption failed (key ${kid}): ciphertext is truncated or malformed`);
  }
  const body = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new Error(
      `decryption failed (key ${kid}): the ciphertext was altered, or it belongs to another context (AAD mismatch)`,
    );
  }
}

/** Encrypts text into a self-describing envelope `v1:<kid>:<iv b64url>:<ciphertext+tag b64url>`. */
export function encryptString(keyring: Keyring, plaintext: string, aad?: string): string {
  const kid = keyring.primaryKeyId;
  const { iv, sealed } = seal(keyFor(keyring, kid), Buffer.from(plaintext, 'utf8'), aad);
  return `${ENVELOPE_VERSION}:${kid}:${iv.toString('base64url')}:${sealed.toString('base64url')}`;
}

/** The key id an envelope was written with (to find rows still on an old key). */
export function envelopeKeyId(envelope: string): string {
  const parts = envelope.split(':');
  if (parts.length !== 4 || parts[0] !== ENVELOPE_VERSION || !parts[1]) {
    throw new Error('not an encryption envelope (expected "v1:<kid>:<iv>:<ciphertext>")');
  }
  return parts[1];
}

/** Decrypts an envelope from {@link encryptString}; unknown key id, tampering or wrong AAD throw. */
export function decryptString(keyring: Keyring, envelope: string, aad?: string): string {
  const kid = envelopeKeyId(envelope);
  const [, , ivText = '', sealedText = ''] = envelope.split(':');
  const key = keyFor(keyring, kid);
  return open(key, kid, Buffer.from(ivText, 'base64url'), Buffer.from(sealedText, 'base64url'), aad).toString(
    'utf8',
  );
}

/** Encrypts bytes with the primary key: `data` is iv ‖ ciphertext ‖ tag. */
export function encryptBytes(
  keyring: Keyring,
  data: Uint8Array,
  aad?: string,
): { keyId: string; data: Uint8Array } {
  const kid = keyring.primaryKeyId;
  const { iv, sealed } = seal(keyFor(keyring, kid), data, aad);
  return { keyId: kid, data: new Uint8Array(Buffer.concat([iv, sealed])) };
}

/** Decrypts iv ‖ ciphertext ‖ tag written by {@link encryptBytes} with the named key. */
export function decryptBytes(keyring: Keyring, keyId: string, data: Uint8Array, aad?: string): Uint8Array {
  const key = keyFor(keyring, keyId);
  if (data.length < IV_BYTES + TAG_BYTES) {
    throw new Error(`decryption failed (key ${keyId}): ciphertext is truncated or malformed`);
  }
  const plain = open(key, keyId, data.subarray(0, IV_BYTES), data.subarray(IV_BYTES), aad);
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
