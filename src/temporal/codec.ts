/**
 * The Temporal payload codec: every payload the client or worker sends to the server is encrypted
 * with AES-256-GCM under the keyring's primary key, so public tokens and anything else in workflow
 * history are unreadable at rest. The key id travels in the payload metadata, so payloads written
 * before a key rotation still decode while the old key stays in the keyring.
 *
 * Shape follows Temporal's encryption sample: the whole Payload (metadata and data) is serialised
 * with protobuf and encrypted; the result is iv ‖ ciphertext ‖ tag.
 */
import {
  METADATA_ENCODING_KEY,
  type Payload,
  type PayloadCodec,
  str,
  u8,
  ValueError,
} from '@temporalio/common';
// A CommonJS bundle whose named exports Node's ESM loader cannot see: take the default export.
import proto from '@temporalio/proto';
import { decryptBytes, encryptBytes } from '../crypto/aesGcm';
import type { Keyring } from '../crypto/keyring';

const { temporal } = proto;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const { keyId, data } = encryptBytes(this.keyring, plain);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: u8(ENCRYPTED_ENCODING),
          [METADATA_ENCRYPTION_KEY_ID]: u8(keyId),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || str(encoding) !== ENCRYPTED_ENCODING) return payload;
      if (!payload.data) throw new ValueError('encrypted payload has no data');
      const keyIdBytes = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
      if (!keyIdBytes)
        throw new ValueError(`encrypted payload has no "${METADATA_ENCRYPTION_KEY_ID}" metadata`);
      const keyId = str(keyIdBytes);
      if (!this.keyring.keys.has(keyId)) {
        throw new ValueError(
          `payload was encrypted with key id "${keyId}", which this keyring does not hold ` +
            `(it holds ${[...this.keyring.keys.keys()].join(', ')}); keep previous keys configured after a rotation`,
        );
      }
      let plain: Uint8Array;
      try {
        plain = decryptBytes(this.keyring, keyId, payload.data);
      } catch (err) {
        throw new ValueError(`cannot decrypt payload: ${(err as Error).message}`);
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

export function createEncryptionCodec(keyring: Keyring): PayloadCodec {
  return new AesGcmPayloadCodec(keyring);
}

/** For `dataConverter: { payloadCodecs: payloadCodecs(keyring) }` on the client and the worker. */
export function payloadCodecs(keyring: Keyring): PayloadCodec[] {
  return [createEncryptionCodec(keyring)];
}
