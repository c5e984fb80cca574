/**
 * The payment step on the chosen account: `/auth/get`, `/processor/token/create` or
 * `/transfer/authorization/create`. Secrets stay out of the result: account and routing numbers
 * are reduced to their last four digits, a processor token is stored encrypted, never returned.
 */
import { createHash } from 'node:crypto';
import { ACHClass, TransferNetwork, TransferType } from 'plaid';
import type { PaymentSecrets } from '../store/paymentCredentials';
import type { SetupPaymentInput } from '../workflows/activityTypes';
import type { PaymentSetupResult } from '../workflows/types';
import { type Attempt, currentAttempt } from './attempt';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';
import { createProcessorTokenOnce } from './processorToken';

const last4 = (value: string | null | undefined) => (value ? value.slice(-4) : null);

export async function setupPayment(
  deps: ActivityDeps,
  input: SetupPaymentInput,
  attempt: Attempt = currentAttempt(),
): Promise<PaymentSetupResult> {
  const { plaid, store } = deps;
  const { choice } = input;
  if (choice.product === 'processor') return createProcessorTokenOnce(deps, input, attempt);
  const accessToken = await store.getAccessToken(input.itemId);
  let result: Record<string, unknown>;
  let secrets: PaymentSecrets | null = null; // for the audited secrets route, stored encrypted
  try {
    if (choice.product === 'auth') {
      const { data } = await plaid.authGet({
        access_token: accessToken,
        options: { account_ids: [input.accountId] },
      });
      const ach = data.numbers.ach.find((n) => n.account_id === input.accountId);
      if (ach)
        secrets = {
          ach: { account: ach.account, routing: ach.routing, wire_routing: ach.wire_routing ?? null },
        };
      result = {
        network: 'ach',
        account_last4: last4(ach?.account),
        routing_last4: last4(ach?.routing),
        numbers_available: Boolean(ach),
      };
    } else {
      const { data } = await plaid.transferAuthorizationCreate({
        access_token: accessToken,
        account_id: input.accountId,
        type: choice.type === 'credit' ? TransferType.Credit : TransferType.Debit,
        network: choice.network === 'same-day-ach' ? TransferNetwork.SameDayAch : TransferNetwork.Ach,
        amount: choice.amount,
        // Plaid accepts ccd/tel/web for debits and ccd/ppd for credits; a consumer authorising
        // online is WEB, a payout to a consumer is PPD.
        ach_class: choice.type === 'credit' ? ACHClass.Ppd : ACHClass.Web,
        user: { legal_name: choice.legal_name },
        // One authorization per session and account, however often Temporal retries this
        // activity: Plaid returns the same authorization for the same key (≤ 50 chars) for 48 h.
        idempotency_key: transferIdempotencyKey(input.linkToken, input.accountId),
      });
      const a = data.authorization;
      secrets = { authorization: { ...a } };
      result = {
        authorization_id: a.id,
        decision: a.decision,
        decision_rationale: a.decision_rationale ?? null,
        amount: choice.amount,
        type: choice.type,
        network: choice.network,
      };
    }
  } catch (err) {
    throw plaidFailure(err, `running ${choice.product} on the chosen account`);
  }
  await store.savePaymentSetup({
    linkToken: input.linkToken,
    itemId: input.itemId,
    accountId: input.accountId,
    product: choice.product,
    result,
  });
  if (secrets)
    await store.savePaymentCredentials({ linkToken: input.linkToken, itemId: input.itemId, secrets });
  return { product: choice.product, result };
}

/** sha256(session + account), hex, cut to Plaid's 50-character limit. */
export function transferIdempotencyKey(linkToken: string, accountId: string): string {
  return createHash('sha256').update(`transfer:${linkToken}:${accountId}`).digest('hex').slice(0, 50);
}
