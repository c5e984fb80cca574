import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Command,
  initialState,
  reduce,
  reopenedState,
  type SessionEvent,
  type SessionState,
  statusOf,
  toView,
} from '../../src/workflows/reducer';
import {
  DEFAULT_TIMING,
  type ItemDetails,
  type LinkSessionInput,
  type PaymentChoice,
} from '../../src/workflows/types';

const NOW = '2026-11-25T12:00:00.000Z';

function input(payment: PaymentChoice | null = { product: 'auth' }): LinkSessionInput {
  return {
    linkToken: 'link-sandbox-00000000-0000-4000-8000-000000000000',
    expiration: '2026-11-25T16:00:00.000Z',
    userId: 'usr_1',
    clientUserId: 'user-1',
    products: ['transactions'],
    payment,
    timing: DEFAULT_TIMING,
    createdAt: NOW,
  };
}

/** Runs events through the reducer, collecting every command it asked for. */
function run(events: SessionEvent[], start: SessionState = initialState(input())) {
  let state = start;
  const commands: Command[] = [];
  for (const event of events) {
    const t = reduce(state, event, NOW);
    state = t.state;
    commands.push(...t.commands);
  }
  return { state, commands };
}

const itemAdd = (publicToken: string): SessionEvent => ({
  type: 'itemAddResult',
  publicToken,
  linkSessionId: 'ls-1',
  at: NOW,
});
const finished = (publicTokens: string[], status: 'SUCCESS' | 'EXITED' = 'SUCCESS'): SessionEvent => ({
  type: 'sessionFinished',
  status,
  linkSessionId: 'ls-1',
  publicTokens,
  at: NOW,
  source: 'session_finished',
});
const reconciled: SessionEvent = { type: 'polled', snapshot: { sessions: [] }, at: NOW, final: true };

function details(itemId: string, products: string[], subtypes: string[]): ItemDetails {
  return {
    itemId,
    institution: { institution_id: `ins_${itemId}`, name: `Bank ${itemId}` },
    products,
    accounts: subtypes.map((subtype, i) => ({
      account_id: `${itemId}-acc-${i}`,
      name: `${subtype} ${i}`,
      mask: `000${i}`,
      type: subtype === 'credit card' ? 'credit' : 'depository',
      subtype,
    })),
  };
}

describe('reducer: tokens', () => {
  it('exchanges a token once however many sources report it', () => {
    const { commands, state } = run([
      itemAdd('public-a'),
      itemAdd('public-a'),
      finished(['public-a']),
      {
        type: 'polled',
        snapshot: {
          sessions: [
            {
              linkSessionId: 'ls-1',
              finishedAt: NOW,
              exited: false,
              items: [{ publicToken: 'public-a', institution: null, accounts: [] }],
            },
          ],
        },
        at: NOW,
        final: false,
      },
    ]);
    expect(commands.filter((c) => c.type === 'exchange')).toEqual([
      { type: 'exchange', publicToken: 'public-a' },
    ]);
    expect(state.tokens).toHaveLength(1);
    expect(state.tokens[0]?.sources).toEqual(['webhook', 'session_finished', 'poll']);
  });

  it('starts the exchange as soon as a token is known, before the session finishes', () => {
    const { commands, state } = run([itemAdd('public-a')]);
    expect(commands).toEqual([{ type: 'exchange', publicToken: 'public-a' }]);
    expect(statusOf(state)).toBe('linking');
  });

  it('learns tokens missing from webhooks through SESSION_FINISHED', () => {
    const { commands } = run([itemAdd('public-a'), finished(['public-a', 'public-b'])]);
    expect(
      commands.filter((c) => c.type === 'exchange').map((c) => (c as { publicToken: string }).publicToken),
    ).toEqual(['public-a', 'public-b']);
  });

  it('describes each exchanged Item once; the first rules reconcile once after any finish', () => {
    const events: SessionEvent[] = [
      itemAdd('public-a'),
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      finished(['public-a']),
      finished(['public-a']),
    ];
    const legacy = run(events, initialState(input(), 1)).commands;
    expect(legacy.filter((c) => c.type === 'describe')).toEqual([{ type: 'describe', itemId: 'item-a' }]);
    expect(legacy.filter((c) => c.type === 'reconcile')).toHaveLength(1);
    // SESSION_FINISHED SUCCESS lists every public token of its Link session: no look needed.
    expect(run(events).commands.filter((c) => c.type === 'reconcile')).toHaveLength(0);
  });

  it('takes the details that come with the exchange, and describes only Items without them', () => {
    const { state, commands } = run([
      itemAdd('public-a'),
      itemAdd('public-b'),
      {
        type: 'exchanged',
        publicToken: 'public-a',
        itemId: 'item-a',
        details: details('item-a', ['auth'], ['checking']),
      },
      { type: 'exchanged', publicToken: 'public-b', itemId: 'item-b' },
      finished(['public-a', 'public-b']),
      reconciled,
    ]);
    expect(commands.filter((c) => c.type === 'describe')).toEqual([{ type: 'describe', itemId: 'item-b' }]);
    expect(statusOf(state)).toBe('exchanging');
    const described = run([{ type: 'itemDescribed', details: details('item-b', [], ['savings']) }], state);
    expect(toView(described.state).status).toBe('awaiting_payment_account');
    expect(toView(described.state).eligible_accounts.map((a) => a.account_id)).toEqual(['item-a-acc-0']);
  });

  it('keeps a failed token as a failed item with its reason', () => {
    const { state } = run([
      itemAdd('public-a'),
      itemAdd('public-b'),
      finished(['public-a', 'public-b']),
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      {
        type: 'exchangeFailed',
        publicToken: 'public-b',
        error: { code: 'INVALID_PUBLIC_TOKEN', message: 'expired' },
      },
      { type: 'itemDescribed', details: details('item-a', ['auth'], ['checking']) },
      reconciled,
    ]);
    const view = toView(state);
    expect(view.items.map((i) => [i.status, i.error?.code ?? null])).toEqual([
      ['exchanged', null],
      ['failed', 'INVALID_PUBLIC_TOKEN'],
    ]);
    expect(view.status).toBe('awaiting_payment_account');
  });

  it('never lets a late failure for the same public token undo an exchanged Item', () => {
    const { state } = run([
      itemAdd('public-a'),
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      {
        type: 'exchangeFailed',
        publicToken: 'public-a',
        error: { code: 'INVALID_PUBLIC_TOKEN', message: 'already exchanged' },
      },
      finished(['public-a']),
    ]);
    const view = toView(state);
    expect(view.items.map((i) => [i.status, i.item_id])).toEqual([['exchanged', 'item-a']]);
    expect(view.errors).toEqual([]);
  });
});

describe('reducer: statuses', () => {
  it('waits for the user, then links, exchanges, and awaits the payment account', () => {
    let s = initialState(input());
    expect(statusOf(s)).toBe('waiting_for_user');
    s = run([itemAdd('public-a')], s).state;
    expect(statusOf(s)).toBe('linking');
    s = run([finished(['public-a'])], s).state;
    expect(statusOf(s)).toBe('exchanging');
    s = run(
      [
        { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
        {
          type: 'itemDescribed',
          details: details('item-a', ['auth', 'transactions'], ['checking', 'credit card']),
        },
      ],
      s,
    ).state;
    expect(statusOf(s)).toBe('awaiting_payment_account');
    const { eligible_accounts, ineligible_accounts } = toView(s);
    expect(eligible_accounts.map((a) => a.account_id)).toEqual(['item-a-acc-0']);
    expect(ineligible_accounts.map((a) => a.reason)).toEqual(['not_checking_or_savings']);
  });

  it('is exited when the user leaves with no Item', () => {
    const { state } = run([finished([], 'EXITED'), reconciled]);
    expect(statusOf(state)).toBe('exited');
  });

  it('is expired when the window closes with nothing seen', () => {
    const { state } = run([{ type: 'windowClosed', at: NOW }]);
    expect(statusOf(state)).toBe('expired');
  });

  it('settles with what it has when the window closes after Items but no finish', () => {
    const { state, commands } = run([
      itemAdd('public-a'),
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      { type: 'itemDescribed', details: details('item-a', [], ['checking']) },
      { type: 'windowClosed', at: NOW },
    ]);
    expect(commands.some((c) => c.type === 'reconcile')).toBe(false);
    expect(statusOf(state)).toBe('completed');
    expect(toView(state).errors.map((e) => e.code)).toContain('NO_ELIGIBLE_ACCOUNTS');
  });

  it('completes without a payment step when none was asked for', () => {
    const { state } = run(
      [
        finished(['public-a']),
        { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
        { type: 'itemDescribed', details: details('item-a', ['auth'], ['checking']) },
        reconciled,
      ],
      initialState(input(null)),
    );
    expect(statusOf(state)).toBe('completed');
  });

  it('fails when every token failed', () => {
    const { state } = run([
      finished(['public-a']),
      {
        type: 'exchangeFailed',
        publicToken: 'public-a',
        error: { code: 'INVALID_PUBLIC_TOKEN', message: 'x' },
      },
      reconciled,
    ]);
    expect(statusOf(state)).toBe('failed');
  });
});

describe('reducer: payment account', () => {
  const ready = () =>
    run([
      finished(['public-a', 'public-b']),
      { type: 'exchanged', publicToken: 'public-a', itemId: 'item-a' },
      { type: 'exchanged', publicToken: 'public-b', itemId: 'item-b' },
      { type: 'itemDescribed', details: details('item-a', ['auth'], ['checking', 'savings']) },
      { type: 'itemDescribed', details: details('item-b', ['transactions'], ['checking']) },
      reconciled,
    ]).state;

  it('runs the payment step once for an eligible choice and completes', () => {
    const { state, commands } = run(
      [
        { type: 'paymentAccountSelected', accountId: 'item-a-acc-1', at: NOW },
        { type: 'paymentAccountSelected', accountId: 'item-a-acc-0', at: NOW },
        { type: 'paymentSucceeded', result: { product: 'auth', result: { account_last4: '1111' } } },
      ],
      ready(),
    );
    expect(commands).toEqual([
      { type: 'setupPayment', itemId: 'item-a', accountId: 'item-a-acc-1', choice: { product: 'auth' } },
    ]);
    expect(statusOf(state)).toBe('completed');
    expect(toView(state).payment_account).toEqual({
      account_id: 'item-a-acc-1',
      item_id: 'item-a',
      product: 'auth',
      result: { account_last4: '1111' },
    });
  });

  it('ignores an account on an Item without auth', () => {
    const { state, commands } = run(
      [{ type: 'paymentAccountSelected', accountId: 'item-b-acc-0', at: NOW }],
      ready(),
    );
    expect(commands).toEqual([]);
    expect(statusOf(state)).toBe('awaiting_payment_account');
  });

  it('completes with an explained error when nobody chooses in time', () => {
    const { state } = run([{ type: 'selectionTimedOut', at: NOW }], ready());
    expect(statusOf(state)).toBe('completed');
    expect(toView(state).errors.map((e) => e.code)).toEqual(['PAYMENT_ACCOUNT_SELECTION_TIMEOUT']);
  });
});

describe('reducer: property — any sequence of events settles every token exactly once', () => {
  const tokenArb = fc.constantFrom('public-1', 'public-2', 'public-3', 'public-4');
  const eventArb: fc.Arbitrary<SessionEvent> = fc.oneof(
    tokenArb.map((t) => itemAdd(t)),
    fc.subarray(['public-1', 'public-2', 'public-3', 'public-4']).map((ts) => finished(ts)),
    fc.subarray(['public-1', 'public-2', 'public-3', 'public-4']).map(
      (ts): SessionEvent => ({
        type: 'polled',
        at: NOW,
        final: false,
        snapshot: {
          sessions: [
            {
              linkSessionId: 'ls-2',
              finishedAt: null,
              exited: false,
              items: ts.map((publicToken) => ({ publicToken, institution: null, accounts: [] })),
            },
          ],
        },
      }),
    ),
  );

  it('hands each token to exchange exactly once, and every token ends exchanged or failed', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 30 }),
        fc.array(fc.boolean(), { maxLength: 10 }),
        (events, outcomes) => {
          let { state, commands } = run(events);
          // Settle every exchange the reducer asked for, in order, succeeding or failing at random,
          // delivering each result twice (an activity result is never delivered twice, but the
          // reducer must not care).
          const exchanges = commands.filter(
            (c): c is Extract<Command, { type: 'exchange' }> => c.type === 'exchange',
          );
          exchanges.forEach((c, i) => {
            const ok = outcomes[i % Math.max(outcomes.length, 1)] ?? true;
            const result: SessionEvent = ok
              ? { type: 'exchanged', publicToken: c.publicToken, itemId: `item-${c.publicToken}` }
              : {
                  type: 'exchangeFailed',
                  publicToken: c.publicToken,
                  error: { code: 'INVALID_PUBLIC_TOKEN', message: 'x' },
                };
            const r = run([result, result], state);
            state = r.state;
            commands = [...commands, ...r.commands];
          });
          const seen = new Set(
            events.flatMap((e) =>
              e.type === 'itemAddResult'
                ? [e.publicToken]
                : e.type === 'sessionFinished'
                  ? e.publicTokens
                  : e.type === 'polled'
                    ? e.snapshot.sessions.flatMap((s) => s.items.map((i) => i.publicToken))
                    : [],
            ),
          );
          const exchanged = commands
            .filter((c) => c.type === 'exchange')
            .map((c) => (c as { publicToken: string }).publicToken);
          expect(new Set(exchanged).size).toBe(exchanged.length);
          expect(new Set(exchanged)).toEqual(seen);
          expect(state.tokens.every((t) => t.status === 'exchanged' || t.status === 'failed')).toBe(true);
          const describes = commands
            .filter((c) => c.type === 'describe')
            .map((c) => (c as { itemId: string }).itemId);
          expect(new Set(describes).size).toBe(describes.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('reducer: several Link sessions on one link token (rules 2)', () => {
  const add = (publicToken: string, linkSessionId: string): SessionEvent => ({
    type: 'itemAddResult',
    publicToken,
    linkSessionId,
    at: NOW,
  });
  const finish = (
    linkSessionId: string,
    publicTokens: string[],
    status: 'SUCCESS' | 'EXITED',
  ): SessionEvent => ({
    type: 'sessionFinished',
    status,
    linkSessionId,
    publicTokens,
    at: NOW,
    source: 'session_finished',
  });
  const exchanged = (publicToken: string): SessionEvent[] => [
    { type: 'exchanged', publicToken, itemId: `item-${publicToken}` },
    { type: 'itemDescribed', details: details(`item-${publicToken}`, ['auth'], ['checking']) },
  ];

  it('EXITED then SUCCESS on the same token ends with the second session’s Items', () => {
    let s = run([finish('ls-1', [], 'EXITED'), { ...reconciled }]).state;
    expect(statusOf(s)).toBe('exited');
    const second = run([add('public-b', 'ls-2'), ...exchanged('public-b')], s);
    s = second.state;
    expect(statusOf(s)).toBe('linking'); // ls-2 is still open
    s = run([finish('ls-2', ['public-b'], 'SUCCESS')], s).state;
    expect(statusOf(s)).toBe('awaiting_payment_account');
    expect(toView(s).items.map((i) => i.item_id)).toEqual(['item-public-b']);
    expect(second.commands.filter((c) => c.type === 'exchange')).toHaveLength(1);
  });

  it('a second SUCCESS session after the first completed exchanges its Items too', () => {
    let s = initialState(input(null));
    s = run(
      [add('public-a', 'ls-1'), finish('ls-1', ['public-a'], 'SUCCESS'), ...exchanged('public-a')],
      s,
    ).state;
    expect(statusOf(s)).toBe('completed');
    const later = run([add('public-b', 'ls-2')], s);
    expect(later.commands).toEqual([{ type: 'exchange', publicToken: 'public-b' }]);
    s = run([...exchanged('public-b'), finish('ls-2', ['public-b'], 'SUCCESS')], later.state).state;
    expect(statusOf(s)).toBe('completed');
    expect(toView(s).items).toHaveLength(2);
  });

  it('a failed final look is asked again, and never turns Plaid’s SUCCESS into exited', () => {
    const failedLook: SessionEvent = {
      type: 'pollFailed',
      error: { code: 'INTERNAL_SERVER_ERROR', message: 'Plaid is down' },
      at: NOW,
      final: true,
    };
    let t = run([finish('ls-1', [], 'SUCCESS')]);
    expect(t.commands).toEqual([{ type: 'reconcile' }]);
    t = run([failedLook], t.state);
    expect(t.state.reconcile).toBe('failed');
    expect(statusOf(t.state)).toBe('exchanging');
    t = run([{ type: 'lookAgain' }], t.state);
    expect(t.commands).toEqual([{ type: 'reconcile' }]);
    const found: SessionEvent = {
      type: 'polled',
      at: NOW,
      final: true,
      snapshot: {
        sessions: [
          {
            linkSessionId: 'ls-1',
            finishedAt: NOW,
            exited: false,
            items: [{ publicToken: 'public-a', institution: null, accounts: [] }],
          },
        ],
      },
    };
    t = run([found], t.state);
    expect(t.commands).toEqual([{ type: 'exchange', publicToken: 'public-a' }]);
    // The first rules counted the failed look as done and showed `exited`.
    const legacy = run([finish('ls-1', [], 'SUCCESS'), failedLook], initialState(input(), 1)).state;
    expect(statusOf(legacy)).toBe('exited');
  });

  it('SUCCESS with no public token anywhere is a failure that says so, not an exit', () => {
    const s = run([finish('ls-1', [], 'SUCCESS'), reconciled]).state;
    expect(statusOf(s)).toBe('failed');
    expect(toView(s).errors.map((e) => e.code)).toContain('SUCCESS_WITHOUT_PUBLIC_TOKENS');
  });

  it('an exchange whose outcome is unknown is its own outcome, never a plain failure', () => {
    const s = run([
      add('public-a', 'ls-1'),
      add('public-b', 'ls-1'),
      finish('ls-1', ['public-a', 'public-b'], 'SUCCESS'),
      ...exchanged('public-a'),
      {
        type: 'exchangeFailed',
        publicToken: 'public-b',
        error: { code: 'EXCHANGE_OUTCOME_UNKNOWN', message: 'the answer was lost' },
      },
    ]).state;
    const view = toView(s);
    expect(view.items.map((i) => [i.status, i.error?.code ?? null])).toEqual([
      ['exchanged', null],
      ['outcome_unknown', 'EXCHANGE_OUTCOME_UNKNOWN'],
    ]);
    expect(statusOf(s)).toBe('awaiting_payment_account');
  });

  it('a reopened run keeps the Items and payment account of the run before it', () => {
    let s = run([
      add('public-a', 'ls-1'),
      finish('ls-1', ['public-a'], 'SUCCESS'),
      ...exchanged('public-a'),
    ]).state;
    s = run([{ type: 'paymentAccountSelected', accountId: 'item-public-a-acc-0', at: NOW }], s).state;
    s = run([{ type: 'paymentSucceeded', result: { product: 'auth', result: { mask: '0000' } } }], s).state;
    const previous = toView(s);
    let r = reopenedState(input(), previous);
    r = run(
      [add('public-b', 'ls-2'), finish('ls-2', ['public-b'], 'SUCCESS'), ...exchanged('public-b')],
      r,
    ).state;
    const view = toView(r);
    expect(view.items.map((i) => i.item_id)).toEqual(['item-public-a', 'item-public-b']);
    expect(view.payment_account?.account_id).toBe('item-public-a-acc-0');
    expect(view.status).toBe('completed');
  });
});
