import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createKeyring,
  decryptBytes,
  decryptString,
  encryptBytes,
  encryptString,
  envelopeKeyId,
  generateKeyBase64,
  keyId,
  sha256Hex,
} from '../../src/crypto';

const keyring = createKeyring(randomBytes(32));

/** Flips one bit of the base64url part `index` (2 = iv, 3 = ciphertext+tag) of an envelope. */
function flipBit(envelope: string, part: 2 | 3, byte: number): string {
  const parts = envelope.split(':');
  const bytes = Buffer.from(parts[part] ?? '', 'base64url');
  const at = ((byte % bytes.length) + bytes.length) % bytes.length;
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join(':');
}

describe('keys and keyrings', () => {
  it('derives a stable 8-hex-character id that differs between keys', () => {
    const key = randomBytes(32);
    expect(keyId(key)).toMatch(/^[0-9a-f]{8}$/);
    expect(keyId(Buffer.from(key))).toBe(keyId(key));
    expect(keyId(randomBytes(32))).not.toBe(keyId(key));
    // The id is not a prefix of the key's plain sha256 (it is domain-separated).
    expect(sha256Hex(key.toString('latin1'))).not.toMatch(new RegExp(`^${keyId(key)}`));
  });

  it('accepts base64 or raw 32-byte keys and rejects anything else', () => {
    const b64 = generateKeyBase64();
    const ring = createKeyring(b64, [Buffer.from(b64, 'base64'), randomBytes(32)]);
    expect(ring.primaryKeyId).toBe(keyId(Buffer.from(b64, 'base64')));
    expect(ring.keys.size).toBe(2); // the duplicate previous key collapses into the primary
    expect(() => createKeyring(randomBytes(16))).toThrow(/32-byte key, got 16 bytes/);
    expect(() => createKeyring('not base64 at all!')).toThrow(/base64/);
    expect(() => createKeyring(randomBytes(32), [randomBytes(31)])).toThrow(/previous encryption key #1/);
  });
});

describe('string envelopes', () => {
  it('round-trips and produces a v1 envelope naming the key, with a fresh IV each time', () => {
    const secret = 'access-sandbox-de3ce8ef-33f8-452c-a685-8671031fc0f6';
    const a = encryptString(keyring, secret, 'item-1');
    const b = encryptString(keyring, secret, 'item-1');
    expect(a).toMatch(new RegExp(`^v1:${keyring.primaryKeyId}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$`));
    expect(a).not.toBe(b);
    expect(a).not.toContain(secret);
    expect(envelopeKeyId(a)).toBe(keyring.primaryKeyId);
    expect(decryptString(keyring, a, 'item-1')).toBe(secret);
    expect(decryptString(keyring, b, 'item-1')).toBe(secret);
  });

  it('detects tampering with the IV, the ciphertext or the tag', () => {
    const envelope = encryptString(keyring, 'access-sandbox-secret', 'item-1');
    expect(() => decryptString(keyring, flipBit(envelope, 2, 0), 'item-1')).toThrow(/decryption failed/);
    expect(() => decryptString(keyring, flipBit(envelope, 3, 0), 'item-1')).toThrow(/decryption failed/);
    expect(() => decryptString(keyring, flipBit(envelope, 3, -1), 'item-1')).toThrow(/decryption failed/);
    const truncated = envelope.slice(0, envelope.length - 4);
    expect(() => decryptString(keyring, truncated, 'item-1')).toThrow(/decryption failed/);
  });

  it('fails with the wrong AAD, or without the AAD it was written with', () => {
    const envelope = encryptString(keyring, 'access-sandbox-secret', 'item-1');
    expect(() => decryptString(keyring, envelope, 'item-2')).toThrow(/AAD mismatch/);
    expect(() => decryptString(keyring, envelope)).toThrow(/decryption failed/);
    const noAad = encryptString(keyring, 'x');
    expect(decryptString(keyring, noAad)).toBe('x');
    expect(() => decryptString(keyring, noAad, 'item-1')).toThrow(/decryption failed/);
  });

  it('rejects malformed envelopes and unknown key ids clearly', () => {
    expect(() => decryptString(keyring, 'plaintext-token')).toThrow(/not an encryption envelope/);
    expect(() => decryptString(keyring, 'v2:abcd:x:y')).toThrow(/not an encryption envelope/);
    const other = createKeyring(randomBytes(32));
    const foreign = encryptString(other, 'secret');
    expect(() => decryptString(keyring, foreign)).toThrow(
      new RegExp(`unknown encryption key id "${other.primaryKeyId}"`),
    );
  });

  it('rotates: the previous key still decrypts, new envelopes use the new key', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = createKeyring(oldKey);
    const after = createKeyring(newKey, [oldKey]);
    const oldEnvelope = encryptString(before, 'old secret', 'row');
    const newEnvelope = encryptString(after, 'new secret', 'row');
    expect(after.primaryKeyId).toBe(keyId(newKey));
    expect(envelopeKeyId(newEnvelope)).toBe(keyId(newKey));
    expect(envelopeKeyId(oldEnvelope)).toBe(keyId(oldKey));
    expect(decryptString(after, oldEnvelope, 'row')).toBe('old secret');
    expect(decryptString(after, newEnvelope, 'row')).toBe('new secret');
    expect(() => decryptString(before, newEnvelope, 'row')).toThrow(/unknown encryption key id/);
  });

  it('round-trips any text and AAD (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.option(fc.string()), (text, aad) => {
        const envelope = encryptString(keyring, text, aad ?? undefined);
        expect(decryptString(keyring, envelope, aad ?? undefined)).toBe(text);
      }),
    );
  });
});

describe('byte envelopes', () => {
  it('round-trips as iv ‖ ciphertext ‖ tag and names the key', () => {
    const data = new Uint8Array(randomBytes(100));
    const sealed = encryptBytes(keyring, data, 'ctx');
    expect(sealed.keyId).toBe(keyring.primaryKeyId);
    expect(sealed.data.length).toBe(12 + 100 + 16);
    expect(Buffer.from(decryptBytes(keyring, sealed.keyId, sealed.data, 'ctx'))).toEqual(Buffer.from(data));
  });

  it('fails on tampering, wrong AAD, truncation and unknown key ids', () => {
    const sealed = encryptBytes(keyring, new Uint8Array([1, 2, 3]), 'ctx');
    const tampered = Uint8Array.from(sealed.data);
    tampered[13] = (tampered[13] ?? 0) ^ 0x80;
    expect(() => decryptBytes(keyring, sealed.keyId, tampered, 'ctx')).toThrow(/decryption failed/);
    expect(() => decryptBytes(keyring, sealed.keyId, sealed.data, 'other')).toThrow(/decryption failed/);
    expect(() => decryptBytes(keyring, sealed.keyId, sealed.data.subarray(0, 20), 'ctx')).toThrow(
      /truncated/,
    );
    expect(() => decryptBytes(keyring, 'deadbeef', sealed.data, 'ctx')).toThrow(/unknown encryption key id/);
  });

  it('round-trips any bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (data) => {
        const sealed = encryptBytes(keyring, data);
        expect(Buffer.from(decryptBytes(keyring, sealed.keyId, sealed.data))).toEqual(Buffer.from(data));
      }),
    );
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 of the UTF-8 text', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
