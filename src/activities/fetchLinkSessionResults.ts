/** Polls `/link/token/get`: the fallback when webhooks are lost, and the final reconciliation. */
import type { LinkTokenSnapshot } from '../workflows/types';
import type { ActivityDeps } from './index';
import { parseLinkTokenGet } from './linkResults';
import { plaidFailure } from './plaidFailure';

export async function fetchLinkSessionResults(
  deps: ActivityDeps,
  input: { linkToken: string },
): Promise<LinkTokenSnapshot> {
  try {
    const { data } = await deps.plaid.linkTokenGet({ link_token: input.linkToken });
    return { ...parseLinkTokenGet(data), fetchedAt: new Date().toISOString() };
  } catch (err) {
    throw plaidFailure(err, 'reading /link/token/get');
  }
}
