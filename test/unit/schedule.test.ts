import { describe, expect, it } from 'vitest';
import { initialState, reduce, type SessionEvent, type SessionState } from '../../src/workflows/reducer';
import { mayClose, nextDue } from '../../src/workflows/schedule';
import { DEFAULT_TIMING, type LinkSessionInput } from '../../src/workflows/types';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;

const input: LinkSessionInput = {
  linkToken: 'link-sandbox-00000000-0000-4000-8000-000000000000',
  expiration: iso(T0 + 240 * MIN),
  userId: 'usr_1',
  clientUserId: 'user-1',
  products: ['transactions'],
  payment: null,
  timing: DEFAULT_TIMING,
  createdAt: iso(T0),
};

function apply(state: SessionState, events: SessionEvent[], at = T0): SessionState {
  return events.reduce((s, e) => reduce(s, e, iso(at)).state, state);
}
const polled = (
  at: number,
  extra: Partial<Extract<SessionEvent, { type: 'polled' }>> = {},
): SessionEvent => ({
  type: 'polled',
  snapshot: { sessions: [] },
  at: iso(at),
  final: false,
  ...extra,
});

describe('schedule: when the session acts on its own', () => {
  it('polls only once webhooks have been quiet for pollAfter, counted from the last one', () => {
    const fresh = initialState(input);
    expect(nextDue(fresh, input, T0)).toEqual({ at: T0 + 5 * MIN, action: 'startPolling' });
    const heard = apply(fresh, [
      { type: 'itemAddResult', publicToken: 'public-a', linkSessionId: 'ls-1', at: iso(T0 + 2 * MIN) },
    ]);
    expect(nextDue(heard, input, T0 + 2 * MIN)).toEqual({ at: T0 + 7 * MIN, action: 'startPolling' });
  });

  it('backs off while polls show nothing new, and stops polling when a webhook arrives', () => {
    let s = apply(initialState(input), [{ type: 'pollingChanged', active: true }, polled(T0 + 5 * MIN)]);
    expect(nextDue(s, input, T0 + 5 * MIN)).toEqual({ at: T0 + 7 * MIN, action: 'poll' });
    s = apply(s, [polled(T0 + 7 * MIN)]);
    expect(nextDue(s, input, T0 + 7 * MIN)).toEqual({ at: T0 + 11 * MIN, action: 'poll' });
    s = apply(s, [
      { type: 'itemAddResult', publicToken: 'public-a', linkSessionId: 'ls-1', at: iso(T0 + 8 * MIN) },
    ]);
    expect(nextDue(s, input, T0 + 8 * MIN)?.action).toBe('stopPolling');
  });

  it('keeps watching after the session completed, until a look after the token expired', () => {
    let s = apply(initialState(input), [
      { type: 'itemAddResult', publicToken: 'public-a', linkSessionId: 'ls-1', at: iso(T0) },
      {
        type: 'sessionFinished',
        status: 'SUCCESS',
        linkSessionId: 'ls-1',
        publicTokens: ['public-a'],
        at: iso(T0),
        source: 'session_finished',
      },
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      {
        type: 'itemDescribed',
        details: {
          itemId: 'item-a',
          institution: { institution_id: null, name: null },
          products: [],
          accounts: [],
        },
      },
    ]);
    expect(mayClose(s, 0)).toBe(false); // the token may still open Link again
    // Polling now only guards a reopened Link with lost webhooks: every 20 minutes, not every one.
    expect(nextDue(s, input, T0)).toEqual({ at: T0 + 20 * MIN, action: 'startPolling' });
    const polling = apply(s, [{ type: 'pollingChanged', active: true }, polled(T0 + 20 * MIN)]);
    expect(nextDue(polling, input, T0 + 20 * MIN)).toEqual({ at: T0 + 40 * MIN, action: 'poll' });
    const afterExpiry = T0 + 240 * MIN;
    s = apply(s, [{ type: 'pollingChanged', active: false }]);
    // A failed look after expiry is repeated; a good one lets the run close.
    s = apply(s, [
      { type: 'pollFailed', error: { code: 'X', message: 'x' }, at: iso(afterExpiry), final: false },
    ]);
    expect(nextDue(s, input, afterExpiry)).toEqual({ at: afterExpiry + MIN, action: 'lookAfterExpiry' });
    s = apply(s, [polled(afterExpiry + MIN, { afterExpiry: true })]);
    expect(mayClose(s, 0)).toBe(true);
    expect(mayClose(s, 1)).toBe(false); // work in flight settles first
  });

  it('a Link session still open after the expiry is watched until it finishes or its results are gone', () => {
    const afterExpiry = T0 + 240 * MIN;
    let s = apply(initialState(input), [
      { type: 'itemAddResult', publicToken: 'public-a', linkSessionId: 'ls-1', at: iso(T0) },
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      polled(afterExpiry, { afterExpiry: true }),
    ]);
    expect(mayClose(s, 0)).toBe(false);
    const due = nextDue(s, input, afterExpiry);
    expect(['startPolling', 'poll']).toContain(due?.action);
    s = apply(s, [{ type: 'pollingChanged', active: true }, polled(afterExpiry)]);
    expect(
      nextDue(s, { ...input, timing: { ...DEFAULT_TIMING, resultsWindowMs: MIN } }, afterExpiry),
    ).toEqual({
      at: afterExpiry + MIN,
      action: 'closeWindow',
    });
  });

  it('expires when nothing happened and the token has expired', () => {
    const afterExpiry = T0 + 240 * MIN;
    let s = apply(initialState(input), [polled(afterExpiry, { afterExpiry: true })]);
    expect(nextDue(s, input, afterExpiry)).toEqual({ at: afterExpiry, action: 'closeWindow' });
    s = apply(s, [{ type: 'windowClosed', at: iso(afterExpiry) }]);
    expect(mayClose(s, 0)).toBe(true);
    expect(nextDue(s, input, afterExpiry)).toBeNull();
  });

  it('asks again after a failed final look, at the polling cadence', () => {
    const s = apply(initialState(input), [
      {
        type: 'sessionFinished',
        status: 'SUCCESS',
        linkSessionId: 'ls-1',
        publicTokens: [],
        at: iso(T0),
        source: 'session_finished',
      },
      { type: 'pollFailed', error: { code: 'X', message: 'x' }, at: iso(T0 + 1000), final: true },
    ]);
    expect(nextDue(s, input, T0 + 1000)).toEqual({ at: T0 + 1000 + MIN, action: 'lookAgain' });
  });
});
