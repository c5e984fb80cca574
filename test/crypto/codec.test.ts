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
import { signWebhookSignal } from '../../src/temporal/webhookSignalMac';
import { REJECTED_PAYLOAD_FIELD } from '../../src/workflows/signalValidation';

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

  describe('decoding for a workflow or an activity (the worker)', () => {
    const workflow = { type: 'workflow', namespace: 'default', workflowId: 'link-session:link-a' } as const;
    const activity = {
      type: 'activity',
      namespace: 'default',
      workflowId: 'link-session:link-a',
      isLocal: false,
    } as const;
    const decodeValue = async (payload: Payload, context = workflow as typeof workflow | typeof activity) =>
      defaultPayloadConverter.fromPayload((await codec.decode([payload], context))[0] as Payload);

    it('turns a payload it did not encrypt into a rejection instead of a value (plain JSON from a Temporal client)', async () => {
      const plain = defaultPayloadConverter.toPayload({ public_token: PUBLIC_TOKEN });
      expect(await decodeValue(plain)).toEqual({
        [REJECTED_PAYLOAD_FIELD]: "the payload was not encrypted by linkflow's codec",
      });
      expect(await decodeValue(plain, activity)).toHaveProperty(REJECTED_PAYLOAD_FIELD);
      expect(await decodeValue(defaultPayloadConverter.toPayload(undefined))).toHaveProperty(
        REJECTED_PAYLOAD_FIELD,
      );
    });

    it('turns a forged or altered ciphertext into a rejection (a throw would fail the workflow task forever)', async () => {
      const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(PUBLIC_TOKEN)]);
      if (!encoded?.data) throw new Error('nothing encoded');
      const tampered = Uint8Array.from(encoded.data);
      tampered[20] = (tampered[20] ?? 0) ^ 1;
      expect(await decodeValue({ ...encoded, data: tampered })).toEqual({
        [REJECTED_PAYLOAD_FIELD]: 'the encrypted payload does not authenticate (altered or forged)',
      });
    });

    it('still throws for a key it does not hold (configuration, fixed by configuring the key)', async () => {
      const other = createEncryptionCodec(createKeyring(randomBytes(32)));
      const [encoded] = await other.encode([defaultPayloadConverter.toPayload(1)]);
      await expect(codec.decode([encoded as Payload], workflow)).rejects.toThrow(/does not hold/);
    });

    it('passes a signal whose webhook MAC verifies for this workflow, and rejects it for another', async () => {
      const signal = {
        public_token: PUBLIC_TOKEN,
        link_session_id: null,
        received_at: '2026-01-01T00:00:00Z',
      };
      const signed = signWebhookSignal(keyring, workflow.workflowId, signal);
      const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(signed)]);
      expect(await decodeValue(encoded as Payload)).toEqual(signed);
      const elsewhere = { ...workflow, workflowId: 'link-session:link-b' };
      expect(await decodeValue(encoded as Payload, elsewhere as never)).toEqual({
        [REJECTED_PAYLOAD_FIELD]:
          'webhook_mac does not verify for this session (altered, or sent to another session)',
      });
    });

    it('rejects a signed signal whose fields were changed, or whose MAC is malformed or from an unknown key', async () => {
      const signed = signWebhookSignal(keyring, workflow.workflowId, { public_token: PUBLIC_TOKEN });
      const check = async (value: unknown) => {
        const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(value)]);
        return (await decodeValue(encoded as Payload)) as Record<string, string>;
      };
      expect(
        (await check({ ...signed, public_token: 'public-sandbox-attacker' }))[REJECTED_PAYLOAD_FIELD],
      ).toMatch(/does not verify/);
      expect((await check({ ...signed, webhook_mac: 'nonsense' }))[REJECTED_PAYLOAD_FIELD]).toMatch(
        /malformed/,
      );
      expect(
        (await check({ ...signed, webhook_mac: `ffffffff:${'A'.repeat(43)}` }))[REJECTED_PAYLOAD_FIELD],
      ).toMatch(/does not hold/);
      // A key escaped in the JSON is still the same key once parsed.
      const escaped = JSON.stringify({ public_token: PUBLIC_TOKEN, webhook_mac: 'x' }).replace(
        'webhook_mac',
        'webhook\\u005fmac',
      );
      const [encoded] = await codec.encode([
        {
          metadata: { [METADATA_ENCODING_KEY]: new TextEncoder().encode('json/plain') },
          data: new TextEncoder().encode(escaped),
        },
      ]);
      expect(await decodeValue(encoded as Payload)).toHaveProperty(REJECTED_PAYLOAD_FIELD);
    });
  });
});
