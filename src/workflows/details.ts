/** The markdown a person reads on the workflow page of the Temporal UI ("current details"). */
import type { SessionView } from './types';

const cell = (value: string | null | undefined) => (value ?? '—').replace(/\|/g, '\\|');

export function currentDetails(view: SessionView): string {
  const lines = [
    `**${view.status}** · ${view.items.length} Item(s) · ${view.eligible_accounts.length} eligible account(s)`,
    '',
  ];
  if (view.items.length > 0) {
    lines.push('| Institution | Item | Status | Accounts |', '|---|---|---|---|');
    for (const item of view.items) {
      const accounts = item.accounts
        .map((a) => `${a.subtype ?? a.type ?? '?'} ••${a.mask ?? '??'}`)
        .join(', ');
      const status = item.error ? `${item.status} (${item.error.code})` : item.status;
      lines.push(
        `| ${cell(item.institution.name)} | ${cell(item.item_id)} | ${cell(status)} | ${cell(accounts)} |`,
      );
    }
  }
  if (view.payment_account) {
    lines.push('', `Payment account: ${view.payment_account.account_id} (${view.payment_account.product})`);
  }
  if (view.polling.active || view.polling.polls > 0) {
    lines.push('', `Polling: ${view.polling.active ? 'active' : 'idle'}, ${view.polling.polls} poll(s)`);
  }
  return lines.join('\n');
}
