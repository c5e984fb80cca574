/** The hand-off aggregates (Items, payment credentials, the secret-read audit, event deliveries) as one store. */
import type { Keyring } from '../crypto/keyring';
import { createSecretReadAudit, type SecretReadAudit } from './audit';
import type { Db } from './db';
import { createEventDeliveryStore, type EventDeliveryStore } from './eventDeliveries';
import { createItemsStore, type ItemsStore } from './items';
import { createPaymentCredentialsStore, type PaymentCredentialsStore } from './paymentCredentials';

export interface HandoffStore
  extends ItemsStore,
    PaymentCredentialsStore,
    SecretReadAudit,
    EventDeliveryStore {}

export function createHandoffStore(db: Db, keyring: Keyring): HandoffStore {
  return {
    ...createItemsStore(db, keyring),
    ...createPaymentCredentialsStore(db, keyring),
    ...createSecretReadAudit(db),
    ...createEventDeliveryStore(db),
  };
}
