/**
 * Encryption keys with stable ids, so a key can be rotated: new ciphertexts use the primary key,
 * older ones still name (and decrypt with) the key that wrote them.
 */
import { createHash, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;

export interface Keyring {
  /** The id of the key every new ciphertext is written with. */
  primaryKeyId: string;
  /** Every key that may still be needed to read: the primary and the previous ones, by id. */
  keys: ReadonlyMap<string, Buffer>;
}

/** A stable, non-secret short id for a key: the first 8 hex characters of sha256('linkflow-key-id' ‖ key). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('linkflow-key-id').update(key).digest('hex').slice(0, 8);
}

/** A fresh random 32-byte key, base64 (the form of `LINKFLOW_ENCRYPTION_KEY`). */
export function generateKeyBase64(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

function toKey(key: Buffer | string, label: string): Buffer {
  let bytes: Buffer;
  if (typeof key === 'string') {
    const trimmed = key.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
      throw new Error(`${label}: expected a base64-encoded ${KEY_BYTES}-byte key`);
    }
    bytes = Buffer.from(trimmed, 'base64');
  } else {
    bytes = Buffer.from(key);
  }
  if (bytes.length !== KEY_BYTES) {
    throw new Error(`${label}: expected a ${KEY_BYTES}-byte key, got ${bytes.length} bytes`);
  }
  return bytes;
}

/**
 * Builds a keyring from the primary key and, optionally, previous keys that must still decrypt
 * (base64 strings or raw buffers of 32 bytes). Duplicates are ignored.
 */
export function createKeyring(primary: Buffer | string, previous: Array<Buffer | string> = []): Keyring {
  const keys = new Map<string, Buffer>();
  const add = (raw: Buffer | string, label: string): string => {
    const key = toKey(raw, label);
    const id = keyId(key);
    const existing = keys.get(id);
    if (existing && !existing.equals(key)) {
      throw new Error(`${label}: key id ${id} collides with another key; generate a new key`);
    }
    keys.set(id, key);
    return id;
  };
  const primaryKeyId = add(primary, 'primary encryption key');
  previous.forEach((raw, i) => {
    add(raw, `previous encryption key #${i + 1}`);
  });
  return { primaryKeyId, keys };
}

/** The key with that id, or a clear error naming the id and the ids the keyring holds. */
export function keyFor(keyring: Keyring, id: string): Buffer {
  const key = keyring.keys.get(id);
  if (!key) {
    throw new Error(
      `unknown encryption key id "${id}" (this keyring holds ${[...keyring.keys.keys()].join(', ') || 'no keys'}); ` +
        'was a previous key dropped from the configuration?',
    );
  }
  return key;
}
