/**
 * The duplicate-Item check of the exchange activity (issue 15), run before any exchange call when
 * the workflow asks for it (`input.duplicateCheck`).
 *
 * 1. Link's metadata for the token: given by the workflow, else `/link/token/get` of the results
 *    link token (the `item_add_results[]` entry whose `public_token` matches; one read shared by
 *    the Items of a session exchanged at once). Not found: the token is exchanged unchecked, and
 *    the log says why (never blocked for want of metadata).
 * 2. The store's check (store/duplicateItems.ts), under the client user's lock: the same
 *    institution_id and an account with the same name and mask as one of the user's Items, or as
 *    another of the user's tokens being exchanged (then: retry until that one settles).
 * 3. OAuth institutions: Plaid documents that at some of them (Chase among them) linking the same
 *    login again invalidates the existing Item once the user finishes the OAuth flow, so Link's
 *    metadata cannot prevent the duplicate there, and the old Item is the one to remove. So a
 *    match at an institution `/institutions/get_by_id` reports as OAuth is asked `/item/get`: in
 *    ITEM_LOGIN_REQUIRED, it was invalidated, and the new token is exchanged as its replacement
 *    (`replaces`; the old Item is marked ITEM_REPLACED, never deleted). A healthy one is a
 *    duplicate like any other.
 * 4. LINKFLOW_DUPLICATE_ITEMS: `skip` records the token as `duplicate` (never exchanged; every
 *    retry returns the recorded answer), `keep` exchanges it and flags `duplicateOf`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CountryCode } from 'plaid';
import { classifyPlaidError } from '../plaid/errors';
import type { DuplicateMode, ItemVerdict } from '../store/duplicateItems';
import type { ExchangePublicTokenInput } from '../workflows/activityTypes';
import type { ExchangeResult, ItemMetadata, LinkTokenSnapshot } from '../workflows/types';
import { type Attempt, isLastChance } from './attempt';
import type { ActivityDeps } from './index';
import { parseLinkTokenGet } from './linkResults';
import { plaidFailure } from './plaidFailure';

export const DUPLICATE_CHECK_PENDING = 'DUPLICATE_CHECK_PENDING';

/** How long one `/link/token/get` answer serves the other Items of its session. */
export const LINK_RESULTS_CACHE_MS = 5_000;
/** How long an institution's OAuth flag is trusted. */
export const INSTITUTION_CACHE_MS = 10 * 60_000;
/** Rounds of "ask Plaid about the matching Items, check again" before retrying the attempt. */
const MAX_ROUNDS = 3;

export type DuplicateDecision =
  /** Exchange it (with what the check recorded: `duplicateOf` under keep, `replaces`). */
  | { kind: 'exchange'; duplicateOf?: string; replaces?: string }
  /** The intent settled meanwhile: read what the store has. */
  | { kind: 'settled' }
  /** Not exchanged: the recorded duplicate. */
  | { kind: 'result'; result: ExchangeResult };

interface Caches {
  linkResults: Map<string, { at: number; snapshot: Promise<LinkTokenSnapshot> }>;
  oauth: Map<string, { at: number; oauth: boolean }>;
}

const cachesOf = new WeakMap<object, Caches>();

/** One cache per Plaid client (per worker's activities). */
function caches(deps: ActivityDeps): Caches {
  let c = cachesOf.get(deps.plaid);
  if (!c) {
    c = { linkResults: new Map(), oauth: new Map() };
    cachesOf.set(deps.plaid, c);
  }
  return c;
}

function log() {
  try {
    return Context.current().log;
  } catch {
    return undefined;
  }
}

export async function checkDuplicateItem(
  deps: ActivityDeps,
  input: ExchangePublicTokenInput,
  attempt: Attempt,
): Promise<DuplicateDecision> {
  const check = input.duplicateCheck;
  if (!check) return { kind: 'exchange' };
  const mode: DuplicateMode = deps.duplicateItems ?? 'skip';
  const lastChance = isLastChance(attempt);

  const metadata =
    check.metadata ?? (await metadataFromLinkResults(deps, check.resultsLinkToken, input, lastChance));
  if (!metadata) return { kind: 'exchange' };
  if (!metadata.institution?.institution_id || !metadata.accounts.some((a) => a.name && a.mask)) {
    log()?.warn('duplicate check skipped: Link gave no institution id or no account with a name and mask', {
      linkToken: input.linkToken,
    });
    return { kind: 'exchange' };
  }

  const verdicts: Record<string, ItemVerdict> = {};
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const outcome = await deps.store.checkDuplicate({
      publicToken: input.publicToken,
      linkToken: input.linkToken,
      clientUserId: input.clientUserId,
      metadata,
      mode,
      verdicts,
      ignorePending: lastChance,
      ...(check.needs && { needs: check.needs }),
    });
    switch (outcome.kind) {
      case 'settled':
        return { kind: 'settled' };
      case 'wait':
        throw ApplicationFailure.retryable(
          `another public token of this client user for the same Item (institution ${metadata.institution.institution_id}, ` +
            `an account with the same name and mask) is being exchanged (let through at ${outcome.checkedAt}); ` +
            `attempt ${attempt.owner} waits for it to settle: exchanged makes this one its duplicate, a failure lets this one through`,
          DUPLICATE_CHECK_PENDING,
        );
      case 'verify':
        for (const item of outcome.items) verdicts[item.itemId] = await verdictOf(deps, item, lastChance);
        continue;
      case 'duplicate':
        return {
          kind: 'result',
          result: {
            ok: false,
            error: { ...outcome.error, retryable: false },
            duplicate: { of: outcome.of, original: outcome.original },
          },
        };
      case 'clear':
        if (outcome.overtook > 0 || outcome.ignoredPending > 0) {
          log()?.warn('duplicate check let a token through past matching tokens still being exchanged', {
            linkToken: input.linkToken,
            stale: outcome.overtook,
            lastAttempt: outcome.ignoredPending,
          });
        }
        return {
          kind: 'exchange',
          ...(outcome.duplicateOf && { duplicateOf: outcome.duplicateOf }),
          ...(outcome.replaces && { replaces: outcome.replaces }),
        };
    }
  }
  throw ApplicationFailure.retryable(
    `the client user's matching Items kept changing during ${MAX_ROUNDS} duplicate checks; trying again`,
    DUPLICATE_CHECK_PENDING,
  );
}

/**
 * Link's metadata for the token from `/link/token/get`. Null (exchange unchecked, logged) when
 * the session does not list it or Plaid refuses the read; a passing Plaid error is retried.
 */
async function metadataFromLinkResults(
  deps: ActivityDeps,
  resultsLinkToken: string,
  input: ExchangePublicTokenInput,
  lastChance: boolean,
): Promise<ItemMetadata | null> {
  const cache = caches(deps).linkResults;
  for (const refresh of [false, true]) {
    let snapshot: LinkTokenSnapshot;
    try {
      snapshot = await linkResults(cache, deps, resultsLinkToken, refresh);
    } catch (err) {
      const info = classifyPlaidError(err);
      if (info.retryable && !lastChance)
        throw plaidFailure(err, 'reading /link/token/get for the duplicate check');
      log()?.warn('duplicate check skipped: /link/token/get failed; exchanging unchecked', {
        linkToken: input.linkToken,
        error: `${info.code} ${info.message}`,
      });
      return null;
    }
    for (const session of snapshot.sessions) {
      const hit = session.items.find((i) => i.publicToken === input.publicToken);
      if (hit) return { institution: hit.institution, accounts: hit.accounts };
    }
  }
  log()?.warn('duplicate check skipped: /link/token/get lists no item_add_result for this public token', {
    linkToken: input.linkToken,
  });
  return null;
}

function linkResults(
  cache: Caches['linkResults'],
  deps: ActivityDeps,
  linkToken: string,
  refresh: boolean,
): Promise<LinkTokenSnapshot> {
  const now = Date.now();
  for (const [key, entry] of cache) if (now - entry.at >= LINK_RESULTS_CACHE_MS) cache.delete(key);
  const cached = cache.get(linkToken);
  if (cached && !refresh) return cached.snapshot;
  const snapshot = deps.plaid
    .linkTokenGet({ link_token: linkToken })
    .then(({ data }) => parseLinkTokenGet(data));
  const entry = { at: now, snapshot };
  cache.set(linkToken, entry);
  snapshot.catch(() => {
    if (cache.get(linkToken) === entry) cache.delete(linkToken);
  });
  return snapshot;
}

/** Whether a matching Item is still the user's live Item, or one the OAuth institution invalidated. */
async function verdictOf(
  deps: ActivityDeps,
  item: { itemId: string; institutionId: string },
  lastChance: boolean,
): Promise<ItemVerdict> {
  if (!(await isOAuthInstitution(deps, item.institutionId, lastChance))) return 'live';
  let accessToken: string;
  try {
    accessToken = await deps.store.getAccessToken(item.itemId);
  } catch {
    return 'live'; // removed meanwhile: the next round no longer counts it
  }
  try {
    const { data } = await deps.plaid.itemGet({ access_token: accessToken });
    return data.item.error?.error_code === 'ITEM_LOGIN_REQUIRED' ? 'invalidated' : 'live';
  } catch (err) {
    const info = classifyPlaidError(err);
    if (info.code === 'ITEM_LOGIN_REQUIRED') return 'invalidated';
    if (info.retryable && !lastChance) throw plaidFailure(err, 'reading /item/get of a matching Item');
    log()?.warn('duplicate check: /item/get of the matching Item failed; it counts as live', {
      itemId: item.itemId,
      error: `${info.code} ${info.message}`,
    });
    return 'live';
  }
}

async function isOAuthInstitution(
  deps: ActivityDeps,
  institutionId: string,
  lastChance: boolean,
): Promise<boolean> {
  const cache = caches(deps).oauth;
  const cached = cache.get(institutionId);
  if (cached && Date.now() - cached.at < INSTITUTION_CACHE_MS) return cached.oauth;
  try {
    const { data } = await deps.plaid.institutionsGetById({
      institution_id: institutionId,
      country_codes: Object.values(CountryCode),
    });
    const oauth = data.institution.oauth === true;
    cache.set(institutionId, { at: Date.now(), oauth });
    return oauth;
  } catch (err) {
    const info = classifyPlaidError(err);
    if (info.retryable && !lastChance)
      throw plaidFailure(err, 'reading /institutions/get_by_id for the duplicate check');
    log()?.warn('duplicate check: /institutions/get_by_id failed; the institution counts as non-OAuth', {
      institutionId,
      error: `${info.code} ${info.message}`,
    });
    return false;
  }
}
