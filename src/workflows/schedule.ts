/**
 * What a Link session must do next on its own, and when: the one rule behind every timer of the
 * workflow (rules 2). Pure, so it is unit-tested without Temporal, and the workflow keeps a single
 * timer that no webhook cancels: a signal changes the state, not the timer.
 *
 * The session may take Items for as long as its link token can produce them: until the token
 * expired and one look at `/link/token/get` after that showed every Link session finished, or
 * until Plaid's results window closed for the ones that never did.
 */
import {
  eligibilityOf,
  lastFinishedAt,
  openLinkSessions,
  paymentLinkOpen,
  type SessionState,
  statusOf,
} from './reducer';
import { nextPollDelay } from './timing';
import type { LinkSessionInput } from './types';

/** Polling cadence once every known Link session ended (a reopened Link's tokens last 30 min). */
export const TAIL_POLL_EVERY_MS = 20 * 60_000;

const DAY_MS = 24 * 3_600_000;

/**
 * How long Plaid may take to settle a pending verification, by status: automated micro-deposits
 * expire after 7 calendar days (Plaid's `verification_expired`); a manual (Same-Day) one waits for
 * the user, whose code Plaid accepts for as long as the deposit stands — 14 days is assumed here,
 * with a day's margin on both so the session never gives up before Plaid does.
 */
export const VERIFICATION_WINDOW_MS: Readonly<Record<string, number>> = {
  pending_automatic_verification: 8 * DAY_MS,
  unsent: 8 * DAY_MS,
  pending_manual_verification: 15 * DAY_MS,
};

/** Rules 3: how often a pending Item is read again when no webhook came (lost AUTH webhooks). */
export const VERIFICATION_REFRESH_MS = 60 * 60_000;

export type ScheduledAction =
  /** Nobody chose a payment account in time. */
  | 'selectionTimeout'
  /** The final look failed; ask `/link/token/get` again. */
  | 'lookAgain'
  /** Webhooks went quiet: start polling (and poll now). */
  | 'startPolling'
  /** A webhook arrived, or polling is no longer needed. */
  | 'stopPolling'
  | 'poll'
  /** The link token expired: one look shows every Link session it ever had. */
  | 'lookAfterExpiry'
  /** Nothing more can come from Plaid: settle with what is known. */
  | 'closeWindow'
  /** Rules 3: look at the payment Link's `/link/token/get` (its public token's fallback). */
  | 'pollPaymentLink'
  /** Rules 3: read a pending Item again (`target` is its item_id). */
  | 'refreshItem';

export interface Due {
  at: number;
  action: ScheduledAction;
  /** The payment Link's token (`pollPaymentLink`) or the Item (`refreshItem`). */
  target?: string;
}

const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NEGATIVE_INFINITY);

/** The earliest thing due, or null when only a signal or an activity result can move the session. */
export function nextDue(state: SessionState, input: LinkSessionInput, now: number): Due | null {
  const { timing } = input;
  const candidates: Due[] = [];
  const status = statusOf(state);
  const expiration = ms(input.expiration);
  const lastPoll = ms(state.polling.lastPolledAt);

  if (status === 'awaiting_payment_account' && state.paymentPhase.phase === 'none' && state.awaitingSince) {
    const at = state.v3
      ? selectionDeadline(state, timing.selectionTimeoutMs)
      : ms(state.awaitingSince) + timing.selectionTimeoutMs;
    candidates.push({ at, action: 'selectionTimeout' });
  }
  if (state.v3) candidates.push(...rules3Due(state, input, now));
  if (state.reconcile === 'failed') {
    candidates.push({ at: lastPoll + timing.pollEveryMs, action: 'lookAgain' });
  }

  if (!state.expired) {
    const open = openLinkSessions(state).length;
    // Results are gone from Plaid once the window after the token (or the last finish) passed.
    const resultsGoneAt = Math.max(expiration, ms(lastFinishedAt(state))) + timing.resultsWindowMs;
    const settleNeeded = !state.finished || open > 0;
    if (!state.lookedAfterExpiry) {
      // A look that failed after the expiry is repeated at the polling cadence.
      const at = lastPoll >= expiration ? lastPoll + timing.pollEveryMs : expiration;
      candidates.push({ at, action: 'lookAfterExpiry' });
    } else if (settleNeeded && open === 0) {
      candidates.push({ at: now, action: 'closeWindow' });
    }
    if (settleNeeded) candidates.push({ at: resultsGoneAt, action: 'closeWindow' });

    // Polling is the fallback while the token can still produce Items and webhooks are quiet.
    // Once the token expired, the look after expiry is the next poll; then only open sessions need one.
    const pollingWanted = state.lookedAfterExpiry ? open > 0 : now < expiration;
    // After every known Link session ended, polling only guards against a reopened Link whose
    // webhooks are all lost: slowly, but within a public token's 30 minutes.
    const tail = state.finished !== null && open === 0;
    const quietFor = tail ? (timing.tailPollEveryMs ?? TAIL_POLL_EVERY_MS) : timing.pollAfterMs;
    const lastNews = Math.max(ms(state.createdAt), ms(state.lastWebhookAt));
    const quietAt = lastNews + quietFor;
    if (pollingWanted && !state.polling.active) candidates.push({ at: quietAt, action: 'startPolling' });
    else if (state.polling.active && (!pollingWanted || now < quietAt))
      candidates.push({ at: now, action: 'stopPolling' });
    else if (state.polling.active) {
      const from = Math.max(lastPoll, quietAt);
      const delay = tail ? quietFor : nextPollDelay(timing, state.polling.unchanged ?? 0);
      candidates.push({ at: from + delay, action: 'poll' });
    }
  } else if (state.polling.active) {
    candidates.push({ at: now, action: 'stopPolling' });
  }

  let due: Due | null = null;
  for (const c of candidates) if (!due || c.at < due.at) due = c;
  return due;
}

/**
 * Rules 3: the selection timeout counts from when an account became selectable (or from when the
 * session began awaiting, when none is yet), and a pending verification extends it up to Plaid's
 * verification window.
 */
export function selectionDeadline(state: SessionState, selectionTimeoutMs: number): number {
  let at = ms(state.awaitingSince) + selectionTimeoutMs;
  if (state.selectableSince) at = Math.max(at, ms(state.selectableSince) + selectionTimeoutMs);
  for (const account of eligibilityOf(state).pending) {
    const item = state.items.find((i) => i.itemId === account.item_id);
    const window = VERIFICATION_WINDOW_MS[account.verification_status] ?? 8 * DAY_MS;
    if (item?.pendingSince) at = Math.max(at, ms(item.pendingSince) + window);
  }
  return at;
}

/** Rules 3: the payment Link's fallback polls and the refreshes of Items awaiting verification. */
function rules3Due(state: SessionState, input: LinkSessionInput, now: number): Due[] {
  const { timing } = input;
  const due: Due[] = [];
  for (const link of state.paymentLinks ?? []) {
    if (!paymentLinkOpen(state, link)) continue;
    const expiration = ms(link.expiration);
    const last = ms(link.lastPolledAt ?? link.createdAt);
    // Every pollAfter while the token lives (the front end normally posts the public token at
    // once, and a public token lasts 30 minutes), then one look once it expired.
    const at =
      last >= expiration ? last + timing.pollEveryMs : Math.min(last + timing.pollAfterMs, expiration);
    due.push({ at, action: 'pollPaymentLink', target: link.linkToken });
  }
  if (state.paymentPhase.phase !== 'none') return due;
  const pendingItems = new Set(eligibilityOf(state).pending.map((a) => a.item_id));
  for (const item of state.items) {
    if (!pendingItems.has(item.itemId) || item.describing || item.refreshWanted) continue;
    const verifying = (state.verificationLinks ?? []).some(
      (l) => l.itemId === item.itemId && now < ms(l.expiration) + timing.pollEveryMs,
    );
    const every = verifying ? timing.pollEveryMs : VERIFICATION_REFRESH_MS;
    due.push({
      at: ms(item.refreshedAt ?? item.pendingSince) + every,
      action: 'refreshItem',
      target: item.itemId,
    });
  }
  return due;
}

/**
 * Whether the workflow may close: nothing more can come from Plaid for this link token, the
 * session reached a final status, and no work or choice is still running.
 */
export function mayClose(state: SessionState, inFlight: number): boolean {
  if (inFlight > 0 || state.paymentPhase.phase === 'running') return false;
  const status = statusOf(state);
  if (status !== 'completed' && status !== 'exited' && status !== 'expired' && status !== 'failed')
    return false;
  // Rules 3: a payment Link that may still yield a public token keeps the session open.
  if ((state.paymentLinks ?? []).some((l) => paymentLinkOpen(state, l))) return false;
  return state.expired || (state.lookedAfterExpiry === true && openLinkSessions(state).length === 0);
}
