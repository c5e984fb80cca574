export type { Db, OpenDatabaseOptions } from './db';
export {
  ExchangeConflictError,
  IdempotencyKeyConflictError,
  NotFoundError,
  PaymentSetupConflictError,
  type StoredLinkSession,
  StoreError,
} from './errors';
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
export {
  DEFAULT_MIGRATIONS_DIR,
  loadMigrations,
  MIGRATION_LOCK_KEY,
  type Migration,
  migrate,
} from './migrate';
export { openDatabase } from './open';
