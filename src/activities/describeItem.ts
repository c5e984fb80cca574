/**
 * `/item/get` + `/accounts/get` for an exchanged Item: what eligibility needs (billed products,
 * account subtypes) and what a person needs to recognise it (institution, names, masks).
 */
import type { ItemDetails } from '../workflows/types';
import type { ActivityDeps } from './index';
import { plaidFailure } from './plaidFailure';

export async function describeItem(deps: ActivityDeps, input: { itemId: string }): Promise<ItemDetails> {
  const accessToken = await deps.store.getAccessToken(input.itemId);
  let details: ItemDetails;
  try {
    const [{ data: itemData }, { data: accountsData }] = await Promise.all([
      deps.plaid.itemGet({ access_token: accessToken }),
      deps.plaid.accountsGet({ access_token: accessToken }),
    ]);
    const item = itemData.item as typeof itemData.item & { institution_name?: string | null };
    details = {
      itemId: input.itemId,
      institution: { institution_id: item.institution_id ?? null, name: item.institution_name ?? null },
      // Missing `products` means no auth, never an error.
      products: Array.isArray(item.products) ? item.products.map(String) : [],
      accounts: (accountsData.accounts ?? []).map((a) => ({
        account_id: a.account_id,
        name: a.name ?? null,
        mask: a.mask ?? null,
        type: a.type ? String(a.type) : null,
        subtype: a.subtype ? String(a.subtype) : null,
        // Micro-deposit and Database Auth accounts only: what eligibility reads to hold or allow them.
        ...(a.verification_status && { verification_status: String(a.verification_status) }),
      })),
    };
  } catch (err) {
    throw plaidFailure(err, 'describing an Item');
  }
  await deps.store.saveItemDetails(details);
  return details;
}
