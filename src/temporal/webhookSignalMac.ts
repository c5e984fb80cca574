/**
 * Authenticates the signals the API's webhook route sends to a Link session: a MAC over the
 * workflow id and the signal's fields, under a key derived (HKDF) from the encryption key, rides
 * in the signal as `webhook_mac`. The worker's payload codec checks it when it decodes the signal
 * in that workflow's context (workflow code cannot do crypto), and replaces a payload whose MAC
 * does not verify by a rejection the workflow records. So only a verified Plaid webhook, handed
 * on by the API for this very session, can put a public token into a session: not a Temporal
 * client (it has no key), not `/codec/encode` (it adds no MAC), not a signal copied from another
 * session's history (the MAC names the other workflow id).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../crypto/keyring';

export const WEBHOOK_MAC_FIELD = 'webhook_mac';
const HKDF_INFO = 'linkflow webhook signal MAC v1';

const macKeys = new WeakMap<Keyring, Map<string, Buffer>>();

function macKey(keyring: Keyring, keyId: string): Buffer | null {
  let keys = macKeys.get(keyring);
  if (!keys) {
    keys = new Map();
    macKeys.set(keyring, keys);
  }
  const cached = keys.get(keyId);
  if (cached) return cached;
  const ikm = keyring.keys.get(keyId);
  if (!ikm) return null;
  const derived = Buffer.from(hkdfSync('sha256', ikm, 'linkflow', HKDF_INFO, 32));
  keys.set(keyId, derived);
  return derived;
}

/** JSON with object keys sorted at every level: the same bytes on both sides of a round trip. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function mac(key: Buffer, workflowId: string, fields: Record<string, unknown>): Buffer {
  return createHmac('sha256', key)
    .update(`v1\n${workflowId}\n${canonicalJson(fields)}`, 'utf8')
    .digest();
}

/** The signal with its `webhook_mac` (`<key id>:<base64url HMAC>`), for the workflow `workflowId`. */
export function signWebhookSignal<T extends object>(
  keyring: Keyring,
  workflowId: string,
  signal: T,
): T & { webhook_mac: string } {
  const { [WEBHOOK_MAC_FIELD]: _old, ...fields } = signal as Record<string, unknown>;
  const key = macKey(keyring, keyring.primaryKeyId) as Buffer;
  const tag = mac(key, workflowId, fields).toString('base64url');
  return { ...(fields as T), webhook_mac: `${keyring.primaryKeyId}:${tag}` };
}

/** Why a signal's `webhook_mac` does not verify for `workflowId`, or null when it does. */
export function webhookMacProblem(
  keyring: Keyring,
  workflowId: string,
  signal: Record<string, unknown>,
): string | null {
  const { [WEBHOOK_MAC_FIELD]: claimed, ...fields } = signal;
  if (typeof claimed !== 'string') return `${WEBHOOK_MAC_FIELD} is not a string`;
  const [keyId = '', tag = '', ...rest] = claimed.split(':');
  if (rest.length > 0 || !/^[A-Za-z0-9_-]{43}$/.test(tag)) return `${WEBHOOK_MAC_FIELD} is malformed`;
  const key = macKey(keyring, keyId);
  if (!key) return `${WEBHOOK_MAC_FIELD} names key id "${keyId}", which this keyring does not hold`;
  const expected = mac(key, workflowId, fields);
  const presented = Buffer.from(tag, 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected))
    return `${WEBHOOK_MAC_FIELD} does not verify for this session (altered, or sent to another session)`;
  return null;
}

/** The API's signer for webhook signals under this keyring (`ApiDeps.signWebhookSignal`). */
export function webhookSignalSigner(keyring: Keyring) {
  return <T extends object>(workflowId: string, signal: T): T =>
    signWebhookSignal(keyring, workflowId, signal);
}
