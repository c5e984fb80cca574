/**
 * The end user going through Link with a link token: one Item per chosen institution, each with a
 * single-use public token; then the session's LINK webhooks — `ITEM_ADD_RESULT` per Item and
 * `SESSION_FINISHED` — which Plaid sends for Multi-Item Link and Hosted Link sessions.
 * Used by `POST /__emulator/link/complete` and, through it, by the Link page.
 */

import type { EmulatorContext } from './context';
import { fail } from './errors';
import { CATALOGUE, type FixtureInstitution, unsupportedRequiredProducts } from './fixtures';
import {
  type AddedItem,
  addItem,
  finishSession,
  type LinkWebhookBody,
  openSession,
  pickInstitution,
  scheduleLinkWebhooks,
  usableLinkToken,
  type WebhookFaults,
} from './linkSessions';
import type { LinkTokenRecord } from './state';

export type { WebhookFaults } from './linkSessions';

export interface CompleteLinkRequest {
  link_token: string;
  institutions?: string[];
  status?: 'SUCCESS' | 'EXITED';
  webhooks?: WebhookFaults;
}

export interface CompleteLinkResult {
  link_session_id: string;
  status: 'SUCCESS' | 'EXITED';
  public_tokens: string[];
  items: Array<{
    item_id: string;
    public_token: string;
    institution: { institution_id: string; name: string };
    accounts: Array<{ account_id: string; name: string; mask: string; type: string; subtype: string }>;
  }>;
  webhooks_scheduled: number;
}

/** Institutions this token lets the user pick: Link hides those lacking a required product. */
export function eligibleInstitutions(token: LinkTokenRecord): FixtureInstitution[] {
  return CATALOGUE.filter((inst) => unsupportedRequiredProducts(inst, token.products).length === 0);
}

/** What the user would pick without being told: the first three the token allows (one without Multi-Item). */
export function defaultInstitutions(token: LinkTokenRecord): string[] {
  return eligibleInstitutions(token)
    .slice(0, token.enable_multi_item_link ? 3 : 1)
    .map((i) => i.institution_id);
}

function chooseInstitutions(
  token: LinkTokenRecord,
  req: CompleteLinkRequest,
  status: string,
): FixtureInstitution[] {
  const ids = req.institutions ?? (status === 'EXITED' ? [] : defaultInstitutions(token));
  if (ids.length > 1 && !token.enable_multi_item_link) {
    throw fail.invalidField(
      'this link_token is not enabled for Multi-Item Link: choose at most one institution',
    );
  }
  return ids.map((id) => pickInstitution(token, id));
}

/**
 * The shortcut: a whole session in one call, through the same machinery as the step-by-step
 * routes (open, add each Item, finish). Its webhooks go out as one ordered sequence.
 */
export function completeLink(ctx: EmulatorContext, req: CompleteLinkRequest): CompleteLinkResult {
  const token = usableLinkToken(ctx, req.link_token);
  const status = req.status ?? 'SUCCESS';
  // Validate everything before touching the state: a refused call changes nothing.
  const institutions = chooseInstitutions(token, req, status);
  if (status === 'SUCCESS' && institutions.length === 0) {
    throw fail.invalidField(
      'a SUCCESS session needs at least one institution; use status EXITED to leave without one',
    );
  }
  const session = openSession(ctx, token);
  const bodies: LinkWebhookBody[] = [];
  const items: AddedItem[] = [];
  for (const inst of institutions) {
    const { added, webhook } = addItem(ctx, token, session, inst);
    items.push(added);
    bodies.push(webhook);
  }
  bodies.push(finishSession(ctx, token, session, status));
  const scheduled = scheduleLinkWebhooks(ctx, token, bodies, req.webhooks ?? {});
  return {
    link_session_id: session.link_session_id,
    status,
    public_tokens: [...session.public_tokens],
    items,
    webhooks_scheduled: scheduled,
  };
}
