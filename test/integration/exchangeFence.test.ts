/**
 * A lost exchange answer through the whole stack (real Temporal dev server, the workflow, the
 * worker's exchange activity, the emulator's `lose_response` fault): Temporal retries the
 * attempt, the retry finds the exchange in doubt and Plaid refusing the spent token, and the
 * session reports the Item as EXCHANGE_OUTCOME_UNKNOWN — recorded in the store — not as a plain
 * INVALID_PUBLIC_TOKEN failure. The other Item of the session is exchanged normally.
 */
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LinkflowStack, startLinkflowStack, TEST_TIMING, untilStatus } from '../helpers/linkflowStack';
import { connectToTestServer, linkSessionBundle, type TemporalTestContext } from '../helpers/temporal';

let t: TemporalTestContext;
let bundle: WorkflowBundle;
let stack: LinkflowStack;

beforeAll(async () => {
  t = await connectToTestServer();
  bundle = await linkSessionBundle();
  stack = await startLinkflowStack({
    temporal: { address: t.address, namespace: t.namespace },
    bundle,
    timing: TEST_TIMING,
  });
});
afterAll(async () => {
  await stack?.close();
  await t?.close();
});

describe('exchange fence through Temporal', () => {
  it('a lost exchange answer ends as EXCHANGE_OUTCOME_UNKNOWN, recorded; the other Item is exchanged', async () => {
    const { linkToken } = await stack.createSession({});
    await stack.emulator('/__emulator/faults', {
      path: '/item/public_token/exchange',
      mode: 'lose_response',
    });
    const link = await stack.completeLink(linkToken, { institutions: ['ins_109508', 'ins_109509'] });

    const view = await untilStatus(
      stack,
      linkToken,
      (s) => s !== 'waiting_for_user' && s !== 'linking' && s !== 'exchanging',
      60_000,
    );
    expect(view.items).toHaveLength(2);
    const unknown = view.items.filter((i) => i.error?.code === 'EXCHANGE_OUTCOME_UNKNOWN');
    const exchanged = view.items.filter((i) => i.status === 'exchanged');
    expect(unknown).toHaveLength(1);
    expect(exchanged).toHaveLength(1);
    expect(unknown[0]?.error?.message).toMatch(/never reached linkflow: attempt link-session:.*#1 sent/);
    expect(unknown[0]?.error?.message).toContain('INVALID_PUBLIC_TOKEN');
    expect(view.items.some((i) => i.error?.code === 'INVALID_PUBLIC_TOKEN')).toBe(false);

    // Plaid exchanged both tokens once; the store says which one is unknown.
    const state = await stack.emulatorState();
    for (const token of link.public_tokens) expect(state.exchanges[token]).toBe(1);
    const records = await Promise.all(link.public_tokens.map((p) => stack.store.findExchange(p)));
    expect(records.map((r) => r?.state).sort()).toEqual(['exchanged', 'unknown']);
    expect((await stack.store.outcomeUnknownCounts()).exchanges).toBe(1);
  });
});
