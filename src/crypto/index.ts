export { decryptBytes, decryptString, encryptBytes, encryptString, envelopeKeyId, sha256Hex } from './aesGcm';
export { createKeyring, generateKeyBase64, KEY_BYTES, type Keyring, keyFor, keyId } from './keyring';
