export type { SecretRead, SecretReadAudit } from './audit';
export type { CallLedger, CallLedgers, InDoubt, LeaseOutcome } from './callLedger';
export { createCallLedgers } from './callLedger';
export { type Db, type DbWaits, DEFAULT_DB_WAITS, type OpenDatabaseOptions } from './db';

export {
  ExchangeConflictError,
  IdempotencyKeyConflictError,
  LeaseLostError,
  NotFoundError,
  PaymentSetupConflictError,
  type StoredLinkSession,
  StoreError,
  StoreTimeoutError,
} from './errors';
export type { DeliveryState, EventDeliveryCounts, EventDeliveryStore } from './eventDeliveries';
export type { HandoffStore } from './handoff';
export {
  createItemStore,
  type ExchangeRecord,
  type ExchangeState,
  type ItemStore,
  type ItemSummary,
  type ReencryptFailure,
  type StoreCounts,
  type StoredPaymentSetup,
  type StoredUser,
} from './itemStore';
export type { AccessTokenRead, ItemStatus, ItemsStore, StoredItem, StoredItemAccount } from './items';
export {
  DEFAULT_MIGRATIONS_DIR,
  loadMigrations,
  MIGRATION_LOCK_KEY,
  type Migration,
  migrate,
} from './migrate';
export { openDatabase } from './open';
export type {
  AchNumbers,
  PaymentCredentials,
  PaymentCredentialsRead,
  PaymentCredentialsStore,
  PaymentSecrets,
} from './paymentCredentials';
