/**
 * Link as it really unfolds at Plaid: a user adds Items one by one over many minutes (each public
 * token expiring 30 minutes after its own Item was added, by the emulator's clock), every webhook
 * lost; Plaid's answers lost after it did the work. Nothing may be lost: every token ends
 * exchanged, or recorded as what really happened (EXCHANGE_OUTCOME_UNKNOWN), never as a plain
 * failure.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SessionView } from '../../src/workflows/types';
import { type LinkflowStack, startLinkflowStack, TEST_TIMING, waitFor } from '../helpers/linkflowStack';
import { linkSessionBundle } from '../helpers/temporal';

const MIN = 60_000;
let stack: LinkflowStack;

beforeAll(async () => {
  stack = await startLinkflowStack({
    temporal: { address: inject('temporalAddress'), namespace: inject('temporalNamespace') },
    bundle: await linkSessionBundle(),
    timing: TEST_TIMING,
  });
});
afterAll(async () => {
  await stack?.close();
});

const view = (linkToken: string) => stack.view(linkToken);

describe('Plaid as it really behaves', () => {
  it('a 35-minute Link session, Items added one by one, every webhook lost: every Item exchanged', async () => {
    const { linkToken } = await stack.createSession({ via: 'direct', payment: null });
    const { link_session_id } = (await stack.emulator('/__emulator/link/sessions', {
      link_token: linkToken,
    })) as { link_session_id: string };
    const added: string[] = [];
    for (const institution_id of ['ins_109508', 'ins_109509', 'ins_109510']) {
      const before = (await view(linkToken)).polling.polls;
      const item = (await stack.emulator(`/__emulator/link/sessions/${link_session_id}/items`, {
        institution_id,
        webhooks: { drop: true },
      })) as { public_token: string };
      added.push(item.public_token);
      // Real minutes pass while the user picks the next bank; the workflow keeps polling in them.
      await waitFor(
        'a poll after the Item was added',
        async () => (await view(linkToken)).polling.polls > before + 1,
      );
      expect((await view(linkToken)).status).toBe('linking'); // the Link session is still open
      await stack.emulator('/__emulator/clock', { advance_ms: 11 * MIN });
    }
    await stack.emulator('/__emulator/clock', { advance_ms: 2 * MIN });
    await stack.emulator(`/__emulator/link/sessions/${link_session_id}/finish`, {
      status: 'SUCCESS',
      webhooks: { drop: true },
    });
    const done = await waitFor('the session to complete', async () => {
      const v = await view(linkToken);
      return v.status === 'completed' ? v : undefined;
    });
    // 35 minutes by Plaid's clock: the first token would have expired had it waited for the end.
    expect(done.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged']);
    const { exchanges, webhooks } = await stack.emulatorState();
    for (const token of added) expect(exchanges[token]).toBe(1);
    expect(webhooks.filter((w) => w.link_token === linkToken && w.delivered)).toEqual([]);
  });

  it('a token Plaid let expire while the user was still in Link fails with Plaid’s reason, the others are exchanged', async () => {
    // The workflow cannot see this session at all until it polls: webhooks lost, and the clock
    // jumps 31 minutes right after the first Item, before any poll.
    const { linkToken } = await stack.createSession({
      via: 'direct',
      payment: null,
      timing: { pollAfterMs: 60_000 },
    });
    const { link_session_id } = (await stack.emulator('/__emulator/link/sessions', {
      link_token: linkToken,
    })) as { link_session_id: string };
    const first = (await stack.emulator(`/__emulator/link/sessions/${link_session_id}/items`, {
      institution_id: 'ins_109508',
      webhooks: { drop: true },
    })) as { public_token: string };
    await stack.emulator('/__emulator/clock', { advance_ms: 31 * MIN });
    const second = (await stack.emulator(`/__emulator/link/sessions/${link_session_id}/items`, {
      institution_id: 'ins_109509',
    })) as { public_token: string };
    await stack.emulator(`/__emulator/link/sessions/${link_session_id}/finish`, { status: 'SUCCESS' });
    const done = await waitFor('the session to settle', async () => {
      const v = await view(linkToken);
      return v.status === 'completed' ? v : undefined;
    });
    const byStatus = Object.fromEntries(done.items.map((i) => [i.status, i]));
    expect(byStatus.exchanged).toBeDefined();
    expect(byStatus.failed?.error?.code).toBe('INVALID_PUBLIC_TOKEN');
    const { exchanges } = await stack.emulatorState();
    expect(exchanges[second.public_token]).toBe(1);
    expect(exchanges[first.public_token] ?? 0).toBe(0);
  });

  it('an exchange whose answer is lost after Plaid did it ends as EXCHANGE_OUTCOME_UNKNOWN, counted in /metrics', async () => {
    const { linkToken } = await stack.createSession({ via: 'direct', payment: null });
    await stack.emulator('/__emulator/faults', {
      path: '/item/public_token/exchange',
      mode: 'lose_response',
      times: 1,
    });
    const link = await stack.completeLink(linkToken, { institutions: ['ins_109508', 'ins_109509'] });
    const done = await waitFor('the session to settle', async () => {
      const v = await view(linkToken);
      return v.status === 'completed' ? v : undefined;
    });
    const unknown = done.items.filter((i) => i.status === 'outcome_unknown');
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.error?.code).toBe('EXCHANGE_OUTCOME_UNKNOWN');
    expect(done.items.filter((i) => i.status === 'exchanged')).toHaveLength(1);
    expect(done.items.some((i) => i.status === 'failed')).toBe(false);
    // Plaid exchanged both exactly once; linkflow never asked twice blindly.
    const { exchanges } = await stack.emulatorState();
    expect(link.public_tokens.map((t) => exchanges[t])).toEqual([1, 1]);
    expect((await stack.store.counts()).unknown).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/linkflow_exchange_outcome_unknown\S* [1-9]/);
  });

  it('lost answers on /link/token/get are only missed looks: polling finds every token', async () => {
    const { linkToken } = await stack.createSession({ via: 'direct', payment: null });
    await stack.emulator('/__emulator/faults', { path: '/link/token/get', mode: 'lose_response', times: 3 });
    const link = await stack.completeLink(linkToken, {
      institutions: ['ins_109508', 'ins_109510'],
      webhooks: { drop: true },
    });
    const done: SessionView = await waitFor('the session to complete', async () => {
      const v = await view(linkToken);
      return v.status === 'completed' ? v : undefined;
    });
    expect(done.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged']);
    const { exchanges, faults_injected } = await stack.emulatorState();
    expect(link.public_tokens.map((t) => exchanges[t])).toEqual([1, 1]);
    expect(faults_injected?.['/link/token/get']).toBeGreaterThanOrEqual(3);
  });
});
