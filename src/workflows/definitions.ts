/**
 * The Link session's messages: Plaid LINK webhooks arrive as signals, the payment-account choice
 * is an update (its validator rejects ineligible accounts before anything is written to history),
 * and the session view is a query.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  CreatedLinkToken,
  ItemAddResultSignal,
  ItemVerificationSignal,
  PaymentLinkPublicTokenSignal,
  SelectPaymentAccountRequest,
  SessionFinishedSignal,
  SessionView,
  VerificationLinkRequest,
} from './types';

export const itemAddResultSignal = defineSignal<[ItemAddResultSignal]>('itemAddResult');
export const sessionFinishedSignal = defineSignal<[SessionFinishedSignal]>('sessionFinished');
export const selectPaymentAccountUpdate = defineUpdate<SessionView, [SelectPaymentAccountRequest]>(
  'selectPaymentAccount',
);
export const getSessionQuery = defineQuery<SessionView>('getSession');

// ---- rules 3: the payment Link and account verification ----

/** Plaid's AUTH webhook for one of the session's Items (routed by item_id). */
export const itemVerificationSignal = defineSignal<[ItemVerificationSignal]>('itemVerification');
/** A single-Item link token for the payment step; the live one when it exists. */
export const createPaymentLinkUpdate = defineUpdate<CreatedLinkToken, []>('createPaymentLink');
/** The payment Link's public token from the front end (`onSuccess`). */
export const addPaymentLinkPublicTokenUpdate = defineUpdate<void, [PaymentLinkPublicTokenSignal]>(
  'addPaymentLinkPublicToken',
);
/** An update-mode link token for manual micro-deposit verification of one Item. */
export const createVerificationLinkUpdate = defineUpdate<CreatedLinkToken, [VerificationLinkRequest]>(
  'createVerificationLink',
);
/** The front end finished update-mode Link: read the Item's verification again. */
export const refreshItemUpdate = defineUpdate<void, [VerificationLinkRequest]>('refreshItem');

export const WORKFLOW_ID_PREFIX = 'link-session:';
export const linkSessionWorkflowId = (linkToken: string): string => `${WORKFLOW_ID_PREFIX}${linkToken}`;
