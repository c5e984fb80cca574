/**
 * Reads `/link/token/get` leniently: Plaid omits arrays and objects in some responses (an open
 * session has no `results`, older sessions only `on_success`), so every field is optional here.
 */
import type { LinkTokenGetResponse } from 'plaid';
import type { AccountMeta, Institution, LinkResultItem, LinkTokenSnapshot } from '../workflows/types';

type Loose = Record<string, unknown> | null | undefined;

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const arr = (v: unknown): Loose[] => (Array.isArray(v) ? (v as Loose[]) : []);

function institution(v: Loose): Institution | null {
  if (!v) return null;
  return { institution_id: str(v.institution_id), name: str(v.name) };
}

function accounts(v: unknown): AccountMeta[] {
  return arr(v).flatMap((a) => {
    const id = str(a?.id) ?? str(a?.account_id);
    if (!id) return [];
    return [
      {
        account_id: id,
        name: str(a?.name),
        mask: str(a?.mask),
        type: str(a?.type),
        subtype: str(a?.subtype),
        // Micro-deposit and Database Auth accounts only; instant ones have none.
        ...(str(a?.verification_status) && { verification_status: str(a?.verification_status) }),
      },
    ];
  });
}

export function parseLinkTokenGet(response: LinkTokenGetResponse): LinkTokenSnapshot {
  const sessions = arr((response as unknown as Record<string, unknown>).link_sessions).flatMap((s) => {
    const linkSessionId = str(s?.link_session_id);
    if (!s || !linkSessionId) return [];
    const results = s.results as Loose;
    let items: LinkResultItem[] = arr(results?.item_add_results).flatMap((r) => {
      const publicToken = str(r?.public_token);
      return publicToken
        ? [
            {
              publicToken,
              institution: institution(r?.institution as Loose),
              accounts: accounts(r?.accounts),
            },
          ]
        : [];
    });
    // Sessions without `results` still carry the first Item in the deprecated `on_success`.
    const onSuccess = s.on_success as Loose;
    const legacyToken = str(onSuccess?.public_token);
    if (legacyToken && !items.some((i) => i.publicToken === legacyToken)) {
      const metadata = onSuccess?.metadata as Loose;
      items = [
        ...items,
        {
          publicToken: legacyToken,
          institution: institution(metadata?.institution as Loose),
          accounts: accounts(metadata?.accounts),
        },
      ];
    }
    return [
      {
        linkSessionId,
        finishedAt: str(s.finished_at),
        exited: Boolean(s.exit ?? s.on_exit),
        items,
      },
    ];
  });
  return { sessions };
}
