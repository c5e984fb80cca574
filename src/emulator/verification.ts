/**
 * Micro-deposit verification, as Plaid documents it:
 *  - Same-Day Micro-deposits: Plaid deposits $0.01 with a code in its description; the user types
 *    the code in Link opened in update mode with the Item's access token. Three wrong codes and the
 *    account is `verification_failed` for good (the user has to link again).
 *  - Automated Micro-deposits: Plaid verifies on its own and sends an AUTH webhook
 *    (`AUTOMATICALLY_VERIFIED`); not verified within 7 calendar days it gives up
 *    (`verification_expired`, `VERIFICATION_EXPIRED` webhook). In Sandbox
 *    `/sandbox/item/set_verification_status` plays either outcome.
 * Until an account is verified its numbers are not served: `/auth/get`, `/processor/token/create`
 * and `/transfer/authorization/create` refuse it.
 */
import type { EmulatorContext } from './context';
import { fail, PlaidApiError } from './errors';
import { sendItemWebhook } from './itemWebhooks';
import type { AccountRecord, ItemRecord, MicrodepositRecord, VerificationStatus } from './state';

/** Plaid's attempt limit for Same-Day codes. */
export const MANUAL_VERIFICATION_ATTEMPTS = 3;
/** Automated Micro-deposits expire when not verified within 7 calendar days. */
export const AUTOMATED_VERIFICATION_WINDOW_MS = 7 * 24 * 3_600_000;

const PENDING = new Set<string>(['pending_automatic_verification', 'pending_manual_verification']);
const DEAD = new Set<string>(['verification_expired', 'verification_failed']);

export function isPendingVerification(a: AccountRecord): boolean {
  return PENDING.has(a.verification_status ?? '');
}

/** Numbers Plaid will hand out: Instant Auth (no status) or a completed verification. */
export function isVerified(a: AccountRecord): boolean {
  const s = a.verification_status ?? null;
  return s === null || (!PENDING.has(s) && !DEAD.has(s));
}

/** The error for an account whose numbers may not be used (yet), or null when they may. */
export function unverifiedError(a: AccountRecord): PlaidApiError | null {
  if (isPendingVerification(a)) {
    return new PlaidApiError('PRODUCT_NOT_READY', {
      message: `the requested product is not yet ready: account ${a.account_id} is ${a.verification_status}. please provide a webhook or try the request again later`,
    });
  }
  if (DEAD.has(a.verification_status ?? '')) {
    return new PlaidApiError('NO_AUTH_ACCOUNTS', {
      message: `account ${a.account_id} cannot be used: its micro-deposit verification ended in ${a.verification_status}; the user must link the account again`,
    });
  }
  return null;
}

export function requireVerifiedAccount(a: AccountRecord): void {
  const err = unverifiedError(a);
  if (err) throw err;
}

/** A three-letter code, as Plaid's deposit descriptions carry. */
export function newMicrodepositCode(ctx: EmulatorContext): string {
  let code = '';
  for (let i = 0; i < 3; i++) code += String.fromCharCode(65 + ctx.rng.int(26));
  return code;
}

function microdepositFor(ctx: EmulatorContext, accountId: string): MicrodepositRecord | undefined {
  return ctx.state.microdeposits.find((m) => m.account_id === accountId);
}

function setStatus(ctx: EmulatorContext, account: AccountRecord, status: VerificationStatus): void {
  account.verification_status = status;
  const deposit = microdepositFor(ctx, account.account_id);
  if (deposit) deposit.verification_status = status;
  ctx.changed();
}

/**
 * An automated micro-deposit's outcome: the account leaves `pending_automatic_verification` and the
 * AUTH webhook goes to the Item's webhook URL. Other accounts are refused, changing nothing.
 */
export function settleAutomatedVerification(
  ctx: EmulatorContext,
  item: ItemRecord,
  accountId: string | undefined,
  status: 'automatically_verified' | 'verification_expired',
): AccountRecord {
  let account: AccountRecord | undefined;
  if (accountId === undefined) {
    const pending = item.accounts.filter((a) => a.verification_status === 'pending_automatic_verification');
    if (pending.length !== 1) {
      throw fail.invalidField(
        pending.length === 0
          ? `Item ${item.item_id} has no account pending automatic verification`
          : `Item ${item.item_id} has several accounts pending automatic verification: give account_id`,
      );
    }
    account = pending[0];
  } else {
    account = item.accounts.find((a) => a.account_id === accountId);
    if (!account) throw new PlaidApiError('INVALID_ACCOUNT_ID');
  }
  if (!account) throw new PlaidApiError('INVALID_ACCOUNT_ID');
  if (account.verification_status !== 'pending_automatic_verification') {
    throw fail.invalidField(
      `account ${account.account_id} is not pending automatic verification (verification_status: ${account.verification_status ?? 'null'}); only Automated Micro-deposit accounts awaiting verification can change`,
    );
  }
  setStatus(ctx, account, status);
  sendItemWebhook(ctx, item, {
    webhook_type: 'AUTH',
    webhook_code: status === 'automatically_verified' ? 'AUTOMATICALLY_VERIFIED' : 'VERIFICATION_EXPIRED',
    account_id: account.account_id,
  });
  ctx.log('automated micro-deposit settled', {
    item_id: item.item_id,
    account_id: account.account_id,
    status,
  });
  return account;
}

/** Automated micro-deposits older than 7 days on the emulator clock expire, with their webhook. */
export function expireAutomatedMicrodeposits(ctx: EmulatorContext): number {
  let expired = 0;
  for (const m of ctx.state.microdeposits) {
    if (m.flow !== 'automated_microdeposits' || m.verification_status !== 'pending_automatic_verification')
      continue;
    if (ctx.now() < m.sent_at + AUTOMATED_VERIFICATION_WINDOW_MS) continue;
    const item = ctx.state.items[m.item_id];
    if (!item || item.removed_at !== null) continue;
    settleAutomatedVerification(ctx, item, m.account_id, 'verification_expired');
    expired++;
  }
  return expired;
}

export interface ManualVerificationResult {
  item_id: string;
  account_id: string;
  verification_status: VerificationStatus;
  attempts_left: number;
}

/**
 * The user types the code from the deposit. Right: `manually_verified`. Wrong: one attempt fewer,
 * answered as INCORRECT_DEPOSIT_VERIFICATION; the third wrong one leaves the account
 * `verification_failed` (TOO_MANY_VERIFICATION_ATTEMPTS, and so does every later try).
 * Wrong attempts are state changes: the caller commits them even though it answers an error.
 */
export function submitVerificationCode(
  ctx: EmulatorContext,
  item: ItemRecord,
  code: string,
): { result: ManualVerificationResult; error: PlaidApiError | null } {
  const account =
    item.accounts.find((a) => a.verification_status === 'pending_manual_verification') ??
    item.accounts.find((a) => a.verification_status === 'verification_failed');
  const deposit = account ? microdepositFor(ctx, account.account_id) : undefined;
  if (!account || !deposit || deposit.flow !== 'same_day_microdeposits') {
    throw fail.invalidField(
      `Item ${item.item_id} has no account awaiting manual micro-deposit verification; verification_code applies only to Same-Day Micro-deposit Items`,
    );
  }
  const result = (): ManualVerificationResult => ({
    item_id: item.item_id,
    account_id: account.account_id,
    verification_status: deposit.verification_status,
    attempts_left: deposit.attempts_left,
  });
  if (account.verification_status === 'verification_failed') {
    return { result: result(), error: tooManyAttempts() };
  }
  if (code.trim().toUpperCase() === deposit.code) {
    setStatus(ctx, account, 'manually_verified');
    return { result: result(), error: null };
  }
  deposit.attempts_left = Math.max(0, deposit.attempts_left - 1);
  ctx.changed();
  if (deposit.attempts_left === 0) {
    setStatus(ctx, account, 'verification_failed');
    return { result: result(), error: tooManyAttempts() };
  }
  const left = deposit.attempts_left;
  return {
    result: result(),
    error: new PlaidApiError('INCORRECT_DEPOSIT_VERIFICATION', {
      message: `the verification code is incorrect; ${left} attempt${left === 1 ? '' : 's'} left`,
      display: `The code you entered is incorrect. You have ${left} attempt${left === 1 ? '' : 's'} left.`,
    }),
  };
}

function tooManyAttempts(): PlaidApiError {
  return new PlaidApiError('TOO_MANY_VERIFICATION_ATTEMPTS');
}
