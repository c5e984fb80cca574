/** Errors the store raises on purpose; callers may branch on the class or on `code`. */

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class NotFoundError extends StoreError {
  override name = 'NotFoundError';
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

export interface StoredLinkSession {
  linkToken: string;
  clientUserId: string;
  userId: string;
  expiration: string;
  requestFingerprint: string | null;
}

/** The Idempotency-Key is already bound to another link session (a concurrent request won). */
export class IdempotencyKeyConflictError extends StoreError {
  override name = 'IdempotencyKeyConflictError';
  constructor(readonly existing: StoredLinkSession) {
    super('IDEMPOTENCY_KEY_CONFLICT', `idempotency key already used by link session ${existing.linkToken}`);
  }
}

/** A public token already recorded as exchanged for a different item. */
export class ExchangeConflictError extends StoreError {
  override name = 'ExchangeConflictError';
  constructor(
    readonly existingItemId: string,
    readonly attemptedItemId: string,
  ) {
    super(
      'EXCHANGE_CONFLICT',
      `public token already exchanged for item ${existingItemId}, refusing to record item ${attemptedItemId}`,
    );
  }
}

/** The session already has a payment setup for another account or product. */
export class PaymentSetupConflictError extends StoreError {
  override name = 'PaymentSetupConflictError';
  constructor(
    readonly linkToken: string,
    readonly existing: { itemId: string; accountId: string; product: string },
  ) {
    super(
      'PAYMENT_SETUP_CONFLICT',
      `link session ${linkToken} already has a ${existing.product} setup for account ${existing.accountId}`,
    );
  }
}

/**
 * A fenced write of a lease holder matched no row: another attempt took the lease over (a newer
 * generation) or it was released. The holder must stop talking to Plaid and write nothing more.
 */
export class LeaseLostError extends StoreError {
  override name = 'LeaseLostError';
  constructor(message: string) {
    super('LEASE_LOST', message);
  }
}

/**
 * A bounded database wait expired (no connection, a query or a lock wait took too long). Worth
 * retrying: nothing was decided, the message says what was waited for and for how long.
 */
export class StoreTimeoutError extends StoreError {
  override name = 'StoreTimeoutError';
  readonly retryable = true;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
