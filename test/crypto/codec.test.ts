import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload, str } from '@temporalio/common';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyring, keyId } from '../../src/crypto';
import {
  AesGcmPayloadCodec,
  createEncryptionCodec,
  ENCRYPTED_ENCODING,
  METADATA_ENCRYPTION_KEY_ID,
  payloadCodecs,
} from '../../src/temporal/codec';

const PUBLIC_TOKEN = 'public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d';

function containsBytes(haystack: Uint8Array, needle: string): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle, 'utf8'));
}

describe('AES-GCM payload codec', () => {
  const key = randomBytes(32);
  const keyring = createKeyring(key);
  const codec = createEncryptionCodec(keyring);

  it('encrypts payloads so the plaintext is gone and the key id is in the metadata', async () => {
    const payload = defaultPayloadConverter.toPayload({ public_token: PUBLIC_TOKEN });
    expect(containsBytes(payload.data ?? new Uint8Array(), PUBLIC_TOKEN)).toBe(true); // sanity
    const [encoded] = await codec.encode([payload]);
    if (!encoded?.data || !encoded.metadata) throw new Error('nothing encoded');
    expect(str(encoded.metadata[METADATA_ENCODING_KEY] ?? new Uint8Array())).toBe(ENCRYPTED_ENCODING);
    expect(str(encoded.metadata[METADATA_ENCRYPTION_KEY_ID] ?? new Uint8Array())).toBe(keyId(key));
    expect(Object.keys(encoded.metadata).sort()).toEqual(
      [METADATA_ENCODING_KEY, METADATA_ENCRYPTION_KEY_ID].sort(),
    );
    expect(containsBytes(encoded.data, PUBLIC_TOKEN)).toBe(false);
    expect(containsBytes(encoded.data, 'public_token')).toBe(false);
    expect(containsBytes(encoded.data, 'json/plain')).toBe(false); // the original metadata is hidden too
  });

  it('decodes back to the same payload and value', async () => {
    const value = { public_token: PUBLIC_TOKEN, nested: { n: 1, list: [true, null, 'x'] } };
    const payload = defaultPayloadConverter.toPayload(value);
    const decoded = await codec.decode(await codec.encode([payload]));
    expect(decoded).toHaveLength(1);
    expect(defaultPayloadConverter.fromPayload(decoded[0] as Payload)).toEqual(value);
    expect(str(decoded[0]?.metadata?.[METADATA_ENCODING_KEY] ?? new Uint8Array())).toBe('json/plain');
  });

  it('keeps the order of several payloads, including empty lists', async () => {
    const values = ['a', 2, null, { public_token: PUBLIC_TOKEN }, undefined];
    const payloads = values.map((v) => defaultPayloadConverter.toPayload(v));
    const decoded = await codec.decode(await codec.encode(payloads));
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(values);
    expect(await codec.encode([])).toEqual([]);
  });

  it('leaves payloads it did not encrypt untouched', async () => {
    const plain = defaultPayloadConverter.toPayload({ hello: 'world' });
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
  });

  it('refuses tampered ciphertext and payloads without a key id', async () => {
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(PUBLIC_TOKEN)]);
    if (!encoded?.data) throw new Error('nothing encoded');
    const tampered = Uint8Array.from(encoded.data);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    await expect(codec.decode([{ ...encoded, data: tampered }])).rejects.toThrow(/cannot decrypt payload/);
    const { [METADATA_ENCRYPTION_KEY_ID]: _dropped, ...withoutKeyId } = encoded.metadata ?? {};
    await expect(codec.decode([{ ...encoded, metadata: withoutKeyId }])).rejects.toThrow(/encryption-key-id/);
  });

  it('decodes payloads written before a key rotation, and encodes new ones with the new key', async () => {
    const newKey = randomBytes(32);
    const rotated = new AesGcmPayloadCodec(createKeyring(newKey, [key]));
    const [old] = await codec.encode([defaultPayloadConverter.toPayload({ public_token: PUBLIC_TOKEN })]);
    const [decoded] = await rotated.decode([old as Payload]);
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toEqual({ public_token: PUBLIC_TOKEN });

    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload('new')]);
    expect(str(fresh?.metadata?.[METADATA_ENCRYPTION_KEY_ID] ?? new Uint8Array())).toBe(keyId(newKey));
    // A worker that only has the old key cannot read it, and says which key is missing.
    await expect(codec.decode([fresh as Payload])).rejects.toThrow(new RegExp(`key id "${keyId(newKey)}"`));
  });

  it('is what payloadCodecs() hands to the data converter', async () => {
    const codecs = payloadCodecs(keyring);
    expect(codecs).toHaveLength(1);
    expect(codecs[0]).toBeInstanceOf(AesGcmPayloadCodec);
    const [encoded] = await (codecs[0] as AesGcmPayloadCodec).encode([defaultPayloadConverter.toPayload(1)]);
    expect(
      defaultPayloadConverter.fromPayload((await codec.decode([encoded as Payload]))[0] as Payload),
    ).toBe(1);
  });

  it('round-trips any JSON value (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const payload = defaultPayloadConverter.toPayload(value);
        const [decoded] = await codec.decode(await codec.encode([payload]));
        expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toEqual(
          JSON.parse(JSON.stringify(value)),
        );
      }),
      { numRuns: 50 },
    );
  });
});
