/**
 * The "never lose an Item" audit shared by the chaos suites: after the sessions ended, the Plaid
 * emulator's counts, the item store and every session view must tell the same story.
 *
 * For every public token Plaid produced:
 *  - Plaid exchanged it at most once (`exchanges[token] <= 1`);
 *  - exchanged once  → the session view lists its Item as exchanged, the store holds the Item for
 *    that link token, and its access token decrypts;
 *  - never exchanged → the session view lists a failed Item with an error code.
 * A token Plaid exchanged but whose access token is not in the store is a loss: "explained" when
 * the session reports it as EXCHANGE_OUTCOME_UNKNOWN (the exchange fence recorded that an earlier
 * attempt's answer was lost; older runs: INVALID_PUBLIC_TOKEN with the "earlier attempt may have
 * exchanged it" note), "silent" otherwise. Silent losses must never happen.
 */
import type { ItemStore, StoreCounts } from '../../src/store';
import type { LinkSessionHandle } from '../../src/temporal/startLinkSession';
import type { SessionView } from '../../src/workflows/types';
import type { CompletedLink, EmulatorState } from '../helpers/linkflowStack';

export interface AuditedSession {
  linkToken: string;
  /** What `/__emulator/link/complete` answered (the tokens Plaid produced), null if Link never completed. */
  link: CompletedLink | null;
  /** Every Link session of the token, when the user opened Link more than once. */
  links?: CompletedLink[];
  /** The workflow's result. */
  result: SessionView;
  /** The same session read back through the API (GET /link/sessions/:id), when the test did. */
  apiView?: SessionView;
}

export interface AuditSummary {
  sessions: number;
  statuses: Record<string, number>;
  tokens_produced: number;
  exchanged: number;
  failed: number;
  failed_by_code: Record<string, number>;
  double_exchanges: number;
  explained_losses: number;
  /** Intents the exchange fence recorded as EXCHANGE_OUTCOME_UNKNOWN. */
  exchange_outcome_unknown: number;
  silent_losses: number;
  /** Tokens recorded as EXCHANGE_OUTCOME_UNKNOWN (the answer was lost, a retry was refused). */
  outcome_unknown: number;
  /** Items not exchanged because the user already had them (duplicate_of names the stored one). */
  duplicate_items: number;
  webhooks_delivered: number;
  duplicates_delivered: number;
  webhooks_dropped: number;
  webhook_retries: number;
  payment_accounts_chosen: number;
  store: StoreCounts;
}

const EXPLAINED = /earlier attempt may have exchanged it/;

export async function auditSessions(
  sessions: AuditedSession[],
  deps: { state: EmulatorState; store: ItemStore },
): Promise<{ summary: AuditSummary; violations: string[] }> {
  const { state, store } = deps;
  const violations: string[] = [];
  const statuses: Record<string, number> = {};
  const failedByCode: Record<string, number> = {};
  let produced = 0;
  let exchanged = 0;
  let failed = 0;
  let doubles = 0;
  let explained = 0;
  let silent = 0;
  let unknown = 0;
  let duplicates = 0;
  let chosen = 0;

  for (const s of sessions) {
    const v = s.result;
    const where = `session ${s.linkToken}`;
    statuses[v.status] = (statuses[v.status] ?? 0) + 1;
    if (!['completed', 'exited', 'expired', 'failed'].includes(v.status))
      violations.push(`${where}: ended ${v.status}`);
    if (v.payment_account) chosen++;
    // The API adds `retrying` (work Temporal is retrying now): nothing, once a session has ended.
    const { retrying, ...apiView } = (s.apiView ?? {}) as SessionView & { retrying?: unknown[] };
    if (s.apiView && retrying?.length) violations.push(`${where}: still retrying after it ended`);
    // The run keeps watching the link token after the session ended: its polling moves, and a
    // later look may add Link's metadata (institution, accounts) to an Item. What was decided
    // must not move: the status, each Item's outcome, the payment account.
    const settled = (x: SessionView) =>
      JSON.stringify({
        status: x.status,
        items: x.items.map((i) => [i.item_id, i.status, i.error?.code ?? null]),
        payment_account: x.payment_account,
        eligible_accounts: x.eligible_accounts,
      });
    if (s.apiView && settled(apiView) !== settled(v)) {
      const differing = Object.keys(v).filter(
        (k) =>
          JSON.stringify((apiView as Record<string, unknown>)[k]) !==
          JSON.stringify((v as unknown as Record<string, unknown>)[k]),
      );
      violations.push(
        `${where}: the API's view differs from the workflow's result in ${differing.join(', ')}`,
      );
    }
    const tokens = s.links?.flatMap((l) => l.items) ?? s.link?.items ?? [];
    produced += tokens.length;
    if (v.items.length !== tokens.length) {
      violations.push(`${where}: Plaid produced ${tokens.length} Items, the view lists ${v.items.length}`);
    }
    const stored = new Set((await store.listItems(s.linkToken)).map((i) => i.itemId));
    const exchangedInView = new Set(v.items.filter((i) => i.status === 'exchanged').map((i) => i.item_id));
    const failedInView = v.items.filter((i) => i.status === 'failed');
    const unknownInView = v.items.filter((i) => i.status === 'outcome_unknown');
    // A duplicate of an Item the user already has is a recorded outcome, never exchanged.
    const duplicatesInView = v.items.filter((i) => i.status === 'duplicate');
    for (const d of duplicatesInView) {
      const original = d.duplicate_of ? await store.getItem(d.duplicate_of) : null;
      if (!original || original.clientUserId !== v.client_user_id)
        violations.push(
          `${where}: a duplicate Item whose original (${d.duplicate_of}) is not the user's stored Item`,
        );
    }
    duplicates += duplicatesInView.length;
    for (const u of unknownInView) {
      if (u.error?.code !== 'EXCHANGE_OUTCOME_UNKNOWN')
        violations.push(`${where}: an Item of unknown outcome without EXCHANGE_OUTCOME_UNKNOWN`);
    }
    unknown += unknownInView.length;
    for (const f of failedInView) {
      if (!f.error?.code) violations.push(`${where}: a failed Item without an error code`);
      else failedByCode[f.error.code] = (failedByCode[f.error.code] ?? 0) + 1;
    }
    let neverExchanged = 0;
    let lostHere = 0;
    for (const t of tokens) {
      const count = state.exchanges[t.public_token] ?? 0;
      if (count > 1) {
        doubles++;
        violations.push(`${where}: public token of Item ${t.item_id} exchanged ${count} times`);
      }
      if (count === 0) {
        neverExchanged++;
        if (exchangedInView.has(t.item_id))
          violations.push(`${where}: Item ${t.item_id} exchanged in view, not at Plaid`);
        continue;
      }
      if (stored.has(t.item_id)) {
        exchanged++;
        if (!exchangedInView.has(t.item_id))
          violations.push(`${where}: stored Item ${t.item_id} not exchanged in the view`);
        const accessToken = await store
          .getAccessToken(t.item_id)
          .catch((err: Error) => `ERROR ${err.message}`);
        if (!accessToken.startsWith('access-sandbox-')) {
          violations.push(
            `${where}: the access token of Item ${t.item_id} does not decrypt (${accessToken})`,
          );
        }
      } else {
        lostHere++;
      }
    }
    failed += failedInView.length;
    for (const id of stored) {
      if (!tokens.some((t) => t.item_id === id))
        violations.push(`${where}: the store holds an Item Plaid never made`);
    }
    if (failedInView.length + unknownInView.length + duplicatesInView.length !== neverExchanged + lostHere) {
      violations.push(
        `${where}: ${failedInView.length} failed, ${unknownInView.length} unknown and ${duplicatesInView.length} duplicate Items in the view, but ${neverExchanged} tokens never exchanged and ${lostHere} not stored`,
      );
    }
    if (lostHere > 0) {
      const reported =
        unknownInView.length + failedInView.filter((f) => EXPLAINED.test(f.error?.message ?? '')).length;
      const explainedHere = Math.min(reported, lostHere);
      explained += explainedHere;
      silent += lostHere - explainedHere;
      if (lostHere > explainedHere)
        violations.push(`${where}: ${lostHere - explainedHere} Items lost silently`);
    }
  }

  const links = new Set(sessions.map((s) => s.linkToken));
  const hooks = state.webhooks.filter((w) => links.has(w.link_token));
  const delivered = hooks.filter((w) => w.delivered);
  const distinct = new Set(delivered.map((w) => `${w.link_token}|${w.webhook_code}|${w.public_token ?? ''}`));
  const counts = await store.counts();
  const unknownOutcomes = (await store.outcomeUnknownCounts()).exchanges;
  const summary: AuditSummary = {
    sessions: sessions.length,
    statuses,
    tokens_produced: produced,
    exchanged,
    failed,
    failed_by_code: failedByCode,
    double_exchanges: doubles,
    explained_losses: explained,
    exchange_outcome_unknown: unknownOutcomes,
    silent_losses: silent,
    outcome_unknown: unknown,
    duplicate_items: duplicates,
    webhooks_delivered: delivered.length,
    duplicates_delivered: delivered.length - distinct.size,
    webhooks_dropped: hooks.filter((w) => w.dropped).length,
    webhook_retries: hooks.reduce((n, w) => n + Math.max(0, w.attempts - 1), 0),
    payment_accounts_chosen: chosen,
    store: counts,
  };

  // The store's totals agree with Plaid's and with the views (the stack's store and emulator serve
  // only these sessions).
  const plaidExchanges = Object.values(state.exchanges).reduce((n, c) => n + c, 0);
  if (counts.items !== exchanged)
    violations.push(`store holds ${counts.items} Items, the sessions ${exchanged}`);
  if (counts.exchanged !== exchanged)
    violations.push(`store: ${counts.exchanged} intents exchanged, expected ${exchanged}`);
  if (plaidExchanges !== exchanged + explained + silent) {
    violations.push(
      `Plaid exchanged ${plaidExchanges} tokens, the sessions account for ${exchanged + explained + silent}`,
    );
  }
  if (counts.exchanges !== produced)
    violations.push(`store: ${counts.exchanges} exchange intents for ${produced} tokens`);
  if (counts.pending !== 0) violations.push(`store: ${counts.pending} exchange intents left pending`);
  if (counts.failed !== failed)
    violations.push(`store: ${counts.failed} intents failed, the views show ${failed}`);
  if (counts.unknown !== unknown)
    violations.push(`store: ${counts.unknown} intents of unknown outcome, the views show ${unknown}`);
  return { summary, violations };
}

/**
 * A session's history in one line: signals, activities scheduled, attempts started, outcomes
 * (`sig:itemAddResult act:exchangePublicToken start#1 done ...`), for diagnosing a violation.
 */
export async function timeline(handle: LinkSessionHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const steps: string[] = [];
  for (const e of history.events ?? []) {
    if (e.workflowTaskCompletedEventAttributes) steps.push('|');
    else if (e.workflowExecutionSignaledEventAttributes)
      steps.push(`sig:${e.workflowExecutionSignaledEventAttributes.signalName}`);
    else if (e.activityTaskScheduledEventAttributes)
      steps.push(`act:${e.activityTaskScheduledEventAttributes.activityType?.name}`);
    else if (e.activityTaskStartedEventAttributes)
      steps.push(`start#${e.activityTaskStartedEventAttributes.attempt}`);
    else if (e.activityTaskCompletedEventAttributes) steps.push('done');
    else if (e.activityTaskFailedEventAttributes) steps.push('failed');
    else if (e.activityTaskTimedOutEventAttributes) steps.push('timed-out');
    else if (e.workflowExecutionUpdateAcceptedEventAttributes) steps.push('update');
  }
  return steps.join(' ');
}
