/** Time rules of a Link session: when polling runs and when the results window closes. */
import type { SessionState } from './reducer';
import type { LinkSessionInput, TimingPolicy } from './types';

/** Backoff ceiling: never slower than this, so a token found by polling is exchanged in time. */
const MAX_POLL_INTERVAL_MS = 10 * 60_000;

/**
 * Delay before the next poll: `pollEvery`, doubling while polls show nothing new, capped at
 * 8x `pollEvery` and 10 minutes (public tokens expire after 30), never below `pollEvery`.
 */
export function nextPollDelay(timing: TimingPolicy, unchangedPolls: number): number {
  const cap = Math.max(timing.pollEveryMs, Math.min(timing.pollEveryMs * 8, MAX_POLL_INTERVAL_MS));
  return Math.min(cap, timing.pollEveryMs * 2 ** Math.min(unchangedPolls, 16));
}

/**
 * When Plaid stops showing this session's results: six hours (the results window) after the
 * session finished, or the link token's expiration when no session ever finished.
 */
export function windowEnd(state: SessionState, input: LinkSessionInput): number {
  if (state.finished) return Date.parse(state.finished.at) + input.timing.resultsWindowMs;
  return Date.parse(input.expiration);
}
