/**
 * The Temporal payload codec: every payload the client or worker sends to the server is encrypted
 * with AES-256-GCM under the keyring's primary key, so public tokens and anything else in workflow
 * history are unreadable at rest. The key id travels in the payload metadata, so payloads written
 * before a key rotation still decode while the old key stays in the keyring.
 *
 * Shape follows Temporal's encryption sample: the whole Payload (metadata and data) is serialised
 * with protobuf and encrypted; the result is iv ‖ ciphertext ‖ tag.
 *
 * Decoding for a workflow or an activity (the SDK passes a serialization context: the worker's
 * activations, the client's results) accepts only what this codec encrypted: a Temporal client
 * without the key could otherwise signal a session, or complete its activity, with plain JSON.
 * Such a payload, or one whose ciphertext does not authenticate, is not thrown on (that would
 * fail the workflow task again on every retry and wedge the session) but replaced by a rejection,
 * `{ linkflow_rejected: <why> }`, which the workflow records and otherwise ignores. In a workflow's
 * context a signal carrying `webhook_mac` must also carry a MAC that verifies for that workflow
 * (see webhookSignalMac.ts). Temporal's own unencrypted payloads never reach a codec: the SDK
 * skips headers and search attributes. Without a context (the Temporal UI's codec route, tools)
 * a payload that was never encrypted is returned as it is, for display.
 */
import {
  defaultPayloadConverter,
  METADATA_ENCODING_KEY,
  type Payload,
  type PayloadCodec,
  type SerializationContext,
  str,
  u8,
  ValueError,
} from '@temporalio/common';
// A CommonJS bundle whose named exports Node's ESM loader cannot see: take the default export.
import proto from '@temporalio/proto';
import { decryptBytes, encryptBytes } from '../crypto/aesGcm';
import type { Keyring } from '../crypto/keyring';
import { REJECTED_PAYLOAD_FIELD } from '../workflows/signalValidation';
import { WEBHOOK_MAC_FIELD, webhookMacProblem } from './webhookSignalMac';

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

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((payload) => this.decodeOne(payload, context));
  }

  private decodeOne(payload: Payload, context: SerializationContext | undefined): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || str(encoding) !== ENCRYPTED_ENCODING) {
      return context ? rejection("the payload was not encrypted by linkflow's codec") : payload;
    }
    if (!payload.data) throw new ValueError('encrypted payload has no data');
    const keyIdBytes = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
    if (!keyIdBytes)
      throw new ValueError(`encrypted payload has no "${METADATA_ENCRYPTION_KEY_ID}" metadata`);
    const keyId = str(keyIdBytes);
    if (!this.keyring.keys.has(keyId)) {
      // A configuration problem, not an attack: failing lets the task succeed once the key is back.
      throw new ValueError(
        `payload was encrypted with key id "${keyId}", which this keyring does not hold ` +
          `(it holds ${[...this.keyring.keys.keys()].join(', ')}); keep previous keys configured after a rotation`,
      );
    }
    let plain: Uint8Array;
    try {
      plain = decryptBytes(this.keyring, keyId, payload.data);
    } catch (err) {
      if (context) return rejection('the encrypted payload does not authenticate (altered or forged)');
      throw new ValueError(`cannot decrypt payload: ${(err as Error).message}`);
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    if (context?.type === 'workflow') {
      const problem = this.webhookMacProblem(decoded, context.workflowId);
      if (problem) return rejection(problem);
    }
    return decoded;
  }

  /** A `webhook_mac` the payload carries that does not verify for the workflow, else null. */
  private webhookMacProblem(payload: Payload, workflowId: string): string | null {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || str(encoding) !== 'json/plain' || !payload.data) return null;
    // Without the name spelled out, or an escape that could spell it, no key can be webhook_mac.
    const bytes = Buffer.from(payload.data.buffer, payload.data.byteOffset, payload.data.byteLength);
    if (!bytes.includes(WEBHOOK_MAC_FIELD) && !bytes.includes('\\')) return null;
    let value: unknown;
    try {
      value = JSON.parse(str(payload.data));
    } catch {
      return null;
    }
    if (
      !value ||
      typeof value !== 'object' ||
      Array.isArray(value) ||
      !Object.hasOwn(value, WEBHOOK_MAC_FIELD)
    )
      return null;
    return webhookMacProblem(this.keyring, workflowId, value as Record<string, unknown>);
  }
}

/** What the workflow gets instead of a payload it must not act on. */
function rejection(reason: string): Payload {
  return defaultPayloadConverter.toPayload({ [REJECTED_PAYLOAD_FIELD]: reason });
}

export function createEncryptionCodec(keyring: Keyring): PayloadCodec {
  return new AesGcmPayloadCodec(keyring);
}

/** For `dataConverter: { payloadCodecs: payloadCodecs(keyring) }` on the client and the worker. */
export function payloadCodecs(keyring: Keyring): PayloadCodec[] {
  return [createEncryptionCodec(keyring)];
}
