/**
 * The Link session's messages: Plaid LINK webhooks arrive as signals, the payment-account choice
 * is an update (its validator rejects ineligible accounts before anything is written to history),
 * and the session view is a query.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ItemAddResultSignal,
  SelectPaymentAccountRequest,
  SessionFinishedSignal,
  SessionView,
} from './types';

export const itemAddResultSignal = defineSignal<[ItemAddResultSignal]>('itemAddResult');
export const sessionFinishedSignal = defineSignal<[SessionFinishedSignal]>('sessionFinished');
export const selectPaymentAccountUpdate = defineUpdate<SessionView, [SelectPaymentAccountRequest]>(
  'selectPaymentAccount',
);
export const getSessionQuery = defineQuery<SessionView>('getSession');

export const WORKFLOW_ID_PREFIX = 'link-session:';
export const linkSessionWorkflowId = (linkToken: string): string => `${WORKFLOW_ID_PREFIX}${linkToken}`;
