/**
 * Typed search attributes of a Link session, so a person can find sessions in the Temporal UI
 * (`LinkSessionStatus = "awaiting_payment_account"`, `ClientUserId = "..."`).
 *
 * Written as plain `SearchAttributeKey` literals (what `defineSearchAttributeKey` returns) so this
 * file stays importable from both the workflow sandbox and Node without `@temporalio/common`.
 */
export const LinkSessionStatus = { name: 'LinkSessionStatus', type: 'KEYWORD' } as const;
export const ClientUserId = { name: 'ClientUserId', type: 'KEYWORD' } as const;
export const PlaidUserId = { name: 'PlaidUserId', type: 'KEYWORD' } as const;
export const LinkItemCount = { name: 'LinkItemCount', type: 'INT' } as const;

export const linkSessionSearchAttributes = [LinkSessionStatus, ClientUserId, PlaidUserId, LinkItemCount];
