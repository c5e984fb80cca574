/**
 * `/transfer/authorization/create` with Plaid Sandbox's decision rules for debits:
 *  - available balance exactly $0 → declined, RISK;
 *  - available balance below the amount → declined, NSF;
 *  - otherwise approved (rationale null).
 * Credits (paying the user) do not depend on the user's balance and are approved. An Item in an
 * error state (ITEM_LOGIN_REQUIRED) gets 200 with decision `user_action_required`, as Plaid answers.
 *
 * `idempotency_key` (at most 50 characters): the same key from the same client within 48 hours
 * gets the very same authorization back, except after `user_action_required`, which Plaid lets a
 * caller retry with the same key once the user acted.
 */
import {
  ACHClass,
  type TransferAuthorizationCreateResponse,
  TransferAuthorizationDecision,
  TransferAuthorizationDecisionRationaleCode,
  type TransferAuthorizationGuaranteeDecision,
  TransferCreditFundsSource,
  TransferNetwork,
  TransferType,
} from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { fail } from '../errors';
import { isAchEligible } from '../fixtures';
import { itemErrorCode, itemForAccessToken, selectAccounts } from '../items';
import type { PlaidRouter } from '../plaidRouter';
import type { TransferAuthorizationRecord } from '../state';
import { nonEmpty } from '../validation';
import { requireVerifiedAccount } from '../verification';
import { jsonNull } from '../views';

const transferAuthorizationSchema = z.strictObject({
  access_token: nonEmpty(),
  account_id: nonEmpty(),
  type: z.enum(TransferType),
  network: z.enum(TransferNetwork),
  amount: nonEmpty(),
  ach_class: z.enum(ACHClass).optional(),
  user: z.looseObject({
    legal_name: nonEmpty(),
    phone_number: z.string().optional(),
    email_address: z.string().optional(),
    address: z.unknown().optional(),
  }),
  funding_account_id: z.string().nullable().optional(),
  ledger_id: z.string().nullable().optional(),
  payment_profile_token: z.string().optional(),
  wire_details: z.unknown().optional(),
  device: z.unknown().optional(),
  origination_account_id: z.string().optional(),
  iso_currency_code: z.string().optional(),
  idempotency_key: z.string().max(50).nullable().optional(),
  user_present: z.boolean().nullable().optional(),
  with_guarantee: z.boolean().nullable().optional(),
  request_guarantee: z.boolean().nullable().optional(),
  beacon_session_id: z.string().nullable().optional(),
  originator_client_id: z.string().nullable().optional(),
  credit_funds_source: z.enum(TransferCreditFundsSource).nullable().optional(),
  test_clock_id: z.string().nullable().optional(),
  ruleset_key: z.string().nullable().optional(),
  custom_attributes: z.record(z.string(), z.string()).nullable().optional(),
});

/** Decimal string with at most two digits of precision, greater than zero. */
const AMOUNT_FORMAT = /^\d+(\.\d{1,2})?$/;

/** ACH SEC codes Plaid accepts per direction. */
const ACH_CLASSES: Record<TransferType, readonly ACHClass[]> = {
  [TransferType.Credit]: [ACHClass.Ccd, ACHClass.Ppd],
  [TransferType.Debit]: [ACHClass.Ccd, ACHClass.Tel, ACHClass.Web],
};

/** Plaid keeps an authorization's idempotency key this long. */
export const IDEMPOTENCY_KEY_LIFETIME_MS = 48 * 3_600_000;

function toCents(amount: string): number {
  return Math.round(Number(amount) * 100);
}

export function registerTransferRoutes(router: PlaidRouter, ctx: EmulatorContext): void {
  router.post('/transfer/authorization/create', transferAuthorizationSchema, (input, call) => {
    if (!AMOUNT_FORMAT.test(input.amount) || toCents(input.amount) <= 0) {
      throw fail.invalidField(
        'amount must be a positive decimal string with at most two digits of precision, e.g. "10.00"',
      );
    }
    const achNetwork = input.network === TransferNetwork.Ach || input.network === TransferNetwork.SameDayAch;
    if (achNetwork) {
      if (input.ach_class === undefined) throw fail.missingFields(['ach_class']);
      if (!ACH_CLASSES[input.type].includes(input.ach_class)) {
        throw fail.invalidField(
          `ach_class ${input.ach_class} is not supported for ${input.type} transfers; use one of: ${ACH_CLASSES[input.type].join(', ')}`,
        );
      }
    }
    if (input.network === TransferNetwork.Wire && input.type !== TransferType.Credit) {
      throw fail.invalidField('wire transfers must be credits');
    }
    const idempotencyKey = input.idempotency_key ? `${call.clientId} ${input.idempotency_key}` : null;
    const earlier = idempotencyKey ? ctx.state.transfer_idempotency[idempotencyKey] : undefined;
    if (earlier && ctx.now() < earlier.created_at + IDEMPOTENCY_KEY_LIFETIME_MS) {
      const previous = ctx.state.transfer_authorizations[earlier.authorization_id];
      if (previous?.authorization) {
        const body = {
          authorization: previous.authorization,
          request_id: call.requestId,
        } as TransferAuthorizationCreateResponse;
        return { body };
      }
    }
    const item = itemForAccessToken(ctx, call.clientId, input.access_token);
    const [account] = selectAccounts(item, [input.account_id]);
    if (!account || !isAchEligible(account)) {
      throw fail.invalidField('account_id must identify a checking or savings account');
    }
    requireVerifiedAccount(account);
    // Items from a manual entry flow (Same-Day Micro-deposits, Database Auth) carry no balance:
    // Plaid approves without a risk check, rationale MANUALLY_VERIFIED_ITEM.
    const manual = account.verification_status === 'manually_verified' || item.institution_id === null;

    const available = account.balances.available ?? account.balances.current ?? 0;
    let decision = TransferAuthorizationDecision.Approved;
    let rationale: TransferAuthorizationCreateResponse['authorization']['decision_rationale'] = null;
    if (itemErrorCode(ctx, item) === 'ITEM_LOGIN_REQUIRED') {
      decision = TransferAuthorizationDecision.UserActionRequired;
      rationale = {
        code: TransferAuthorizationDecisionRationaleCode.ItemLoginRequired,
        description:
          'Unable to collect the account information due to Item staleness. Can be resolved by using Link in update mode.',
      };
    } else if (manual) {
      rationale = {
        code: TransferAuthorizationDecisionRationaleCode.ManuallyVerifiedItem,
        description:
          'The Item comes from manually entered account numbers: little information is available, no risk check was run.',
      };
    } else if (input.type === TransferType.Debit) {
      if (toCents(String(available)) === 0) {
        decision = TransferAuthorizationDecision.Declined;
        rationale = {
          code: TransferAuthorizationDecisionRationaleCode.Risk,
          description: 'Transaction is declined: the account has a zero balance and is considered high risk.',
        };
      } else if (toCents(String(available)) < toCents(input.amount)) {
        decision = TransferAuthorizationDecision.Declined;
        rationale = {
          code: TransferAuthorizationDecisionRationaleCode.Nsf,
          description: 'Transaction is declined due to insufficient funds in the account.',
        };
      }
    }

    const id = ctx.rng.uuid();
    const now = ctx.now();
    ctx.state.transfer_authorizations[id] = {
      id,
      item_id: item.item_id,
      account_id: account.account_id,
      decision,
      amount: input.amount,
      created_at: now,
    };
    const body: TransferAuthorizationCreateResponse = {
      authorization: {
        id,
        created: ctx.isoSeconds(now),
        decision,
        decision_rationale: rationale,
        guarantee_decision: jsonNull<TransferAuthorizationGuaranteeDecision>(),
        guarantee_decision_rationale: null,
        payment_risk: null,
        proposed_transfer: {
          ach_class: input.ach_class,
          account_id: account.account_id,
          funding_account_id: input.funding_account_id ?? null,
          ledger_id: input.ledger_id ?? null,
          type: input.type,
          user: {
            legal_name: input.user.legal_name,
            phone_number: input.user.phone_number ?? null,
            email_address: input.user.email_address ?? null,
            address: null,
          },
          amount: input.amount,
          requested_amount: input.amount,
          network: input.network,
          wire_details: null,
          origination_account_id: input.origination_account_id ?? '',
          iso_currency_code: input.iso_currency_code ?? 'USD',
          originator_client_id: input.originator_client_id ?? null,
          // Plaid defaults credits to the sweep account and leaves the field empty for debits.
          credit_funds_source:
            input.type === TransferType.Credit
              ? (input.credit_funds_source ?? TransferCreditFundsSource.Sweep)
              : jsonNull(),
        },
      },
      request_id: call.requestId,
    };
    (ctx.state.transfer_authorizations[id] as TransferAuthorizationRecord).authorization = body.authorization;
    if (idempotencyKey) {
      if (decision === TransferAuthorizationDecision.UserActionRequired) {
        delete ctx.state.transfer_idempotency[idempotencyKey];
      } else {
        ctx.state.transfer_idempotency[idempotencyKey] = { authorization_id: id, created_at: now };
      }
    }
    ctx.changed();
    return { body };
  });
}
