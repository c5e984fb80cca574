/**
 * Rules 3 as pure functions (no Temporal): the payment Link, accounts held while Plaid verifies
 * them, the selection deadline, and duplicate Items as recorded outcomes.
 */
import { describe, expect, it } from 'vitest';
import { eligiblePaymentAccounts, verificationState } from '../../src/workflows/eligibility';
import {
  type Command,
  initialState,
  reduce,
  type SessionEvent,
  type SessionState,
  statusOf,
  toView,
  withRules3,
} from '../../src/workflows/reducer';
import { mayClose, nextDue, selectionDeadline, VERIFICATION_WINDOW_MS } from '../../src/workflows/schedule';
import { DEFAULT_TIMING, type ItemDetails, type LinkSessionInput } from '../../src/workflows/types';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

const input: LinkSessionInput = {
  linkToken: 'link-sandbox-00000000-0000-4000-8000-000000000000',
  expiration: iso(T0 + 240 * MIN),
  userId: 'usr_1',
  clientUserId: 'user-1',
  products: ['transactions'],
  payment: { product: 'auth' },
  timing: DEFAULT_TIMING,
  createdAt: iso(T0),
};

function run(events: Array<[SessionEvent, number]>, start: SessionState = withRules3(initialState(input))) {
  let state = start;
  const commands: Command[] = [];
  for (const [event, at] of events) {
    const t = reduce(state, event, iso(at));
    state = t.state;
    commands.push(...t.commands);
  }
  return { state, commands };
}

const card: ItemDetails = {
  itemId: 'item-card',
  institution: { institution_id: 'ins_h', name: 'Herringbone Bank' },
  products: ['auth', 'transactions'],
  accounts: [{ account_id: 'acc-card', name: 'Card', mask: '1111', type: 'credit', subtype: 'credit card' }],
};
const manual = (status: string): ItemDetails => ({
  itemId: 'item-md',
  institution: { institution_id: null, name: null },
  products: ['auth'],
  accounts: [
    {
      account_id: 'acc-md',
      name: 'Checking',
      mask: '1234',
      type: 'depository',
      subtype: 'checking',
      verification_status: status,
    },
  ],
});

/** A session whose Multi-Item Link brought only a credit card, finished at T0 + 1 min. */
function cardOnly() {
  return run([
    [{ type: 'itemAddResult', publicToken: 'public-card', linkSessionId: 'ls-1', at: iso(T0) }, T0],
    [
      {
        type: 'sessionFinished',
        status: 'SUCCESS',
        linkSessionId: 'ls-1',
        publicTokens: ['public-card'],
        at: iso(T0 + MIN),
        source: 'session_finished',
      },
      T0 + MIN,
    ],
    [{ type: 'exchanged', publicToken: 'public-card', itemId: 'item-card', details: card }, T0 + MIN],
  ]);
}

/** …then a payment Link whose Same-Day micro-deposit Item arrived from the front end. */
function withPendingAccount(status = 'pending_manual_verification') {
  const { state } = cardOnly();
  return run(
    [
      [
        {
          type: 'paymentLinkCreated',
          linkToken: 'link-pay',
          expiration: iso(T0 + 250 * MIN),
          at: iso(T0 + 10 * MIN),
        },
        T0 + 10 * MIN,
      ],
      [{ type: 'paymentLinkToken', publicToken: 'public-md', at: iso(T0 + 12 * MIN) }, T0 + 12 * MIN],
      [
        { type: 'exchanged', publicToken: 'public-md', itemId: 'item-md', details: manual(status) },
        T0 + 12 * MIN,
      ],
    ],
    state,
  );
}

describe('eligibility and verification_status', () => {
  it('only verified accounts are selectable; pending ones wait; failed, expired and weak database checks cannot move money', () => {
    expect(
      ['automatically_verified', 'manually_verified', 'database_matched', 'database_insights_pass', null].map(
        verificationState,
      ),
    ).toEqual(['verified', 'verified', 'verified', 'verified', 'verified']);
    expect(
      ['pending_automatic_verification', 'pending_manual_verification', 'unsent'].map(verificationState),
    ).toEqual(['pending', 'pending', 'pending']);
    expect(
      [
        'verification_expired',
        'verification_failed',
        'database_insights_fail',
        'database_insights_pass_with_caution',
      ].map(verificationState),
    ).toEqual(['unverified', 'unverified', 'unverified', 'unverified']);
    const e = eligiblePaymentAccounts([manual('verification_failed')]);
    expect(e.eligible).toEqual([]);
    expect(e.ineligible).toEqual([
      expect.objectContaining({
        account_id: 'acc-md',
        reason: 'not_verified',
        verification_status: 'verification_failed',
      }),
    ]);
  });
});

describe('the payment Link', () => {
  it('a payment session with no eligible account awaits one (rules 2 completed at once)', () => {
    const { state } = cardOnly();
    expect(statusOf(state)).toBe('awaiting_payment_account');
    const legacy = run(
      [
        [{ type: 'itemAddResult', publicToken: 'public-card', linkSessionId: 'ls-1', at: iso(T0) }, T0],
        [
          {
            type: 'sessionFinished',
            status: 'SUCCESS',
            linkSessionId: 'ls-1',
            publicTokens: ['public-card'],
            at: iso(T0),
            source: 'session_finished',
          },
          T0,
        ],
        [{ type: 'exchanged', publicToken: 'public-card', itemId: 'item-card', details: card }, T0],
      ],
      initialState(input),
    ).state;
    expect(statusOf(legacy)).toBe('completed');
  });

  it("its public token is exchanged once, with a duplicate check against the payment Link's results", () => {
    const { state } = cardOnly();
    const { state: s, commands } = run(
      [
        [
          {
            type: 'paymentLinkCreated',
            linkToken: 'link-pay',
            expiration: iso(T0 + 250 * MIN),
            at: iso(T0 + 10 * MIN),
          },
          T0 + 10 * MIN,
        ],
        [{ type: 'paymentLinkToken', publicToken: 'public-md', at: iso(T0 + 11 * MIN) }, T0 + 11 * MIN],
        [{ type: 'paymentLinkToken', publicToken: 'public-md', at: iso(T0 + 11 * MIN) }, T0 + 11 * MIN],
        [
          {
            type: 'paymentLinkPolled',
            linkToken: 'link-pay',
            at: iso(T0 + 15 * MIN),
            snapshot: {
              sessions: [
                {
                  linkSessionId: 'ls-pay',
                  finishedAt: iso(T0 + 11 * MIN),
                  exited: false,
                  items: [{ publicToken: 'public-md', institution: null, accounts: [] }],
                },
              ],
            },
          },
          T0 + 15 * MIN,
        ],
      ],
      state,
    );
    expect(commands).toEqual([{ type: 'exchange', publicToken: 'public-md' }]);
    const token = s.tokens.find((t) => t.publicToken === 'public-md');
    expect(token).toMatchObject({
      origin: 'payment_link',
      resultsLinkToken: 'link-pay',
      sources: ['front_end', 'poll'],
    });
    // The payment Link's own Link session is not one of the session's Link sessions.
    expect(s.linkSessionIds).toEqual(['ls-1']);
  });

  it('is polled while it may still yield a token, and keeps the run open until it cannot', () => {
    const { state } = cardOnly();
    const { state: s } = run(
      [
        [
          {
            type: 'paymentLinkCreated',
            linkToken: 'link-pay',
            expiration: iso(T0 + 250 * MIN),
            at: iso(T0 + 10 * MIN),
          },
          T0 + 10 * MIN,
        ],
      ],
      { ...state, lookedAfterExpiry: true, paymentPhase: { phase: 'timed_out' } },
    );
    expect(nextDue(s, input, T0 + 11 * MIN)).toEqual({
      at: T0 + 15 * MIN,
      action: 'pollPaymentLink',
      target: 'link-pay',
    });
    expect(mayClose(s, 0)).toBe(false);
    // Once expired, one last look settles it.
    const looked = run(
      [
        [
          {
            type: 'paymentLinkPolled',
            linkToken: 'link-pay',
            at: iso(T0 + 251 * MIN),
            snapshot: { sessions: [] },
          },
          T0 + 251 * MIN,
        ],
      ],
      s,
    ).state;
    expect(mayClose(looked, 0)).toBe(true);
  });
});

describe('accounts held while Plaid verifies them', () => {
  it('a pending account is shown with its status, not selectable, and read again while the verification Link lives', () => {
    const { state } = withPendingAccount();
    const view = toView(state);
    expect(view.eligible_accounts).toEqual([]);
    expect(view.pending_accounts).toEqual([
      expect.objectContaining({
        account_id: 'acc-md',
        item_id: 'item-md',
        verification_status: 'pending_manual_verification',
      }),
    ]);
    expect(view.items.find((i) => i.item_id === 'item-md')).toMatchObject({
      status: 'exchanged',
      origin: 'payment_link',
    });
    const refused = run(
      [[{ type: 'paymentAccountSelected', accountId: 'acc-md', at: iso(T0 + 13 * MIN) }, T0 + 13 * MIN]],
      state,
    );
    expect(refused.state.paymentPhase.phase).toBe('none');

    // Without a verification Link: the hourly fallback; with one, the polling cadence. (The link
    // token's own polls are left out: its last look already happened.)
    const quiet = { ...state, lookedAfterExpiry: true };
    expect(nextDue(quiet, input, T0 + 13 * MIN)).toMatchObject({
      action: 'refreshItem',
      target: 'item-md',
      at: T0 + 72 * MIN,
    });
    const verifying = run(
      [
        [
          {
            type: 'verificationLinkCreated',
            itemId: 'item-md',
            linkToken: 'link-upd',
            expiration: iso(T0 + 43 * MIN),
            at: iso(T0 + 13 * MIN),
          },
          T0 + 13 * MIN,
        ],
      ],
      quiet,
    ).state;
    expect(nextDue(verifying, input, T0 + 13 * MIN)).toMatchObject({
      action: 'refreshItem',
      at: T0 + 13 * MIN,
    });
    const asked = run([[{ type: 'itemRefreshWanted', itemId: 'item-md' }, T0 + 14 * MIN]], verifying);
    expect(asked.commands).toEqual([{ type: 'describe', itemId: 'item-md' }]);
    const verified = run(
      [[{ type: 'itemDescribed', details: manual('manually_verified') }, T0 + 15 * MIN]],
      asked.state,
    ).state;
    expect(toView(verified).eligible_accounts.map((a) => a.account_id)).toEqual(['acc-md']);
    expect(verified.selectableSince).toBe(iso(T0 + 15 * MIN));
  });

  it('the selection timeout counts from when an account became selectable and stretches to the verification window', () => {
    const { state } = withPendingAccount('pending_automatic_verification');
    const awaiting = Date.parse(state.awaitingSince as string);
    expect(selectionDeadline(state, DEFAULT_TIMING.selectionTimeoutMs)).toBe(
      T0 + 12 * MIN + (VERIFICATION_WINDOW_MS.pending_automatic_verification as number),
    );
    expect(selectionDeadline(state, DEFAULT_TIMING.selectionTimeoutMs)).toBeGreaterThan(
      awaiting + DEFAULT_TIMING.selectionTimeoutMs,
    );
    const later = T0 + 3 * DAY;
    const verified = run(
      [[{ type: 'itemDescribed', details: manual('automatically_verified') }, later]],
      state,
    ).state;
    expect(selectionDeadline(verified, DEFAULT_TIMING.selectionTimeoutMs)).toBe(
      later + DEFAULT_TIMING.selectionTimeoutMs,
    );
  });

  it('an expired verification of the only candidate ends the session failed with the reason', () => {
    const { state } = withPendingAccount('pending_automatic_verification');
    const { state: s } = run(
      [[{ type: 'itemDescribed', details: manual('verification_expired') }, T0 + 7 * DAY]],
      state,
    );
    expect(statusOf(s)).toBe('failed');
    expect(toView(s).errors).toContainEqual(expect.objectContaining({ code: 'VERIFICATION_EXPIRED' }));
    expect(toView(s).errors.find((e) => e.code === 'VERIFICATION_EXPIRED')?.message).toContain('acc-md');
  });

  it('a refresh that fails keeps what was known', () => {
    const { state } = withPendingAccount();
    const asked = run([[{ type: 'itemRefreshWanted', itemId: 'item-md' }, T0 + 20 * MIN]], state).state;
    const failed = run(
      [
        [
          {
            type: 'describeFailed',
            itemId: 'item-md',
            error: { code: 'INTERNAL_SERVER_ERROR', message: 'boom' },
          },
          T0 + 21 * MIN,
        ],
      ],
      asked,
    ).state;
    expect(toView(failed).pending_accounts).toHaveLength(1);
    expect(failed.items.find((i) => i.itemId === 'item-md')?.error).toBeNull();
  });
});

describe('duplicate Items', () => {
  /** SESSION_FINISHED with one token, which the exchange found to duplicate `item-earlier`. */
  const duplicateOfEarlier = (original: ItemDetails | null): Array<[SessionEvent, number]> => [
    [
      {
        type: 'sessionFinished',
        status: 'SUCCESS',
        linkSessionId: 'ls-1',
        publicTokens: ['public-dup'],
        at: iso(T0),
        source: 'session_finished',
      },
      T0,
    ],
    [
      {
        type: 'duplicateSkipped',
        publicToken: 'public-dup',
        of: 'item-earlier',
        original,
        error: { code: 'DUPLICATE_ITEM', message: 'duplicate of item-earlier' },
      },
      T0,
    ],
  ];
  it('the original of a duplicate that the store had not described is described here', () => {
    const { state, commands } = run(duplicateOfEarlier(null));
    expect(commands).toContainEqual({ type: 'describe', itemId: 'item-earlier' });
    expect(statusOf(state)).toBe('exchanging');
  });

  it("a skipped duplicate is a recorded outcome, not a loss, and the original's accounts can be chosen", () => {
    const original: ItemDetails = {
      itemId: 'item-earlier',
      institution: { institution_id: 'ins_p', name: 'Platypus' },
      products: ['auth'],
      accounts: [
        { account_id: 'acc-chk', name: 'Checking', mask: '0000', type: 'depository', subtype: 'checking' },
      ],
    };
    const { state } = run(duplicateOfEarlier(original));
    const view = toView(state);
    expect(view.status).toBe('awaiting_payment_account');
    expect(view.items).toEqual([
      expect.objectContaining({ item_id: null, status: 'duplicate', duplicate_of: 'item-earlier' }),
    ]);
    expect(view.eligible_accounts.map((a) => a.item_id)).toEqual(['item-earlier']);
    // A failure that arrives later for the same token does not turn the duplicate into a loss.
    const late = run(
      [
        [
          {
            type: 'exchangeFailed',
            publicToken: 'public-dup',
            error: { code: 'INVALID_PUBLIC_TOKEN', message: 'spent' },
          },
          T0,
        ],
      ],
      state,
    ).state;
    expect(toView(late).items[0]?.status).toBe('duplicate');
  });
});
