/**
 * Finding 1 of issue 17: any Temporal client could inject Items into a session. A signal is acted
 * on only when the worker's codec decrypted it and its webhook MAC verifies for that very session;
 * anything else changes nothing and is recorded in the session's errors.
 */
import { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkflowDataConverter } from '../../src/temporal/dataConverter';
import { signWebhookSignal } from '../../src/temporal/webhookSignalMac';
import {
  itemAddResultSignal,
  linkSessionWorkflowId,
  sessionFinishedSignal,
} from '../../src/workflows/definitions';
import {
  type LinkflowStack,
  startLinkflowStack,
  TEST_TIMING,
  untilStatus,
  waitFor,
} from '../helpers/linkflowStack';
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

const ATTACKER_TOKEN = 'public-sandbox-00000000-attacker-0000-000000000000';

describe('signals from outside the webhook route', () => {
  it('plain JSON, unauthenticated, cross-session and malformed signals change nothing and are recorded', async () => {
    const victim = await stack.createSession({ payment: { product: 'auth' } });
    const other = await stack.createSession();
    const victimId = linkSessionWorkflowId(victim.linkToken);
    const at = new Date().toISOString();
    const event = { public_token: ATTACKER_TOKEN, link_session_id: 'lsid-attacker', received_at: at };

    // 1. `temporal workflow signal` with plain JSON: a client without linkflow's codec.
    const raw = new Client({ connection: stack.client.connection, namespace: stack.temporal.namespace });
    await raw.workflow.getHandle(victimId).signal(itemAddResultSignal, event);
    // 2. Encrypted with the key (as /codec/encode would), but no webhook MAC.
    await victim.handle.signal(itemAddResultSignal, event);
    // 3. A genuine, MAC'd signal for another session, replayed into this one.
    await victim.handle.signal(
      itemAddResultSignal,
      signWebhookSignal(stack.keyring, linkSessionWorkflowId(other.linkToken), event),
    );
    // 4. Authenticated but malformed: no public_token (it once left an exchange retrying 30 minutes).
    const { public_token: _dropped, ...withoutToken } = event;
    await victim.handle.signal(
      itemAddResultSignal,
      signWebhookSignal(stack.keyring, victimId, withoutToken) as never,
    );
    // 5. A forged SESSION_FINISHED in plain JSON.
    await raw.workflow.getHandle(victimId).signal(sessionFinishedSignal, {
      status: 'SUCCESS',
      link_session_id: 'lsid-attacker',
      public_tokens: [ATTACKER_TOKEN],
      received_at: at,
    });

    const view = await waitFor('five rejections recorded', async () => {
      const v = await stack.view(victim.linkToken);
      return v.errors.filter((e) => e.code === 'SIGNAL_REJECTED').length >= 5 ? v : undefined;
    });
    const reasons = view.errors.filter((e) => e.code === 'SIGNAL_REJECTED').map((e) => e.message);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/itemAddResult refused: the payload was not encrypted by linkflow's codec/),
        expect.stringMatching(/itemAddResult refused: no webhook_mac/),
        expect.stringMatching(/itemAddResult refused: webhook_mac does not verify for this session/),
        expect.stringMatching(/itemAddResult refused: public_token is missing/),
      ]),
    );
    expect(view.status).toBe('waiting_for_user');
    expect(view.items).toEqual([]);
    expect(view.link_session_ids).toEqual([]);
    expect(view.finished_at).toBeNull();
    expect((await stack.emulatorState()).exchanges[ATTACKER_TOKEN] ?? 0).toBe(0);
    expect(JSON.stringify(view)).not.toContain(ATTACKER_TOKEN);

    // The session still works for the genuine webhooks that follow.
    const link = await stack.completeLink(victim.linkToken, { institutions: ['ins_109508'] });
    const done = await untilStatus(stack, victim.linkToken, (s) => s === 'awaiting_payment_account');
    expect(done.items.map((i) => i.status)).toEqual(['exchanged']);
    expect(link.public_tokens).toHaveLength(1);
  });

  it('a payment-account update in plain JSON is refused before it reaches history, even for an eligible account', async () => {
    const session = await stack.createSession({ payment: { product: 'auth' } });
    await stack.completeLink(session.linkToken, { institutions: ['ins_109508'] });
    const view = await untilStatus(stack, session.linkToken, (s) => s === 'awaiting_payment_account');
    const account = view.eligible_accounts[0];
    if (!account) throw new Error('no eligible account');
    const raw = new Client({ connection: stack.client.connection, namespace: stack.temporal.namespace });
    // The raw client cannot read the (encrypted) answer either way; what counts is history.
    await raw.workflow
      .getHandle(linkSessionWorkflowId(session.linkToken))
      .executeUpdate('selectPaymentAccount', { args: [{ account_id: account.account_id }] })
      .catch(() => undefined);
    const history = await session.handle.fetchHistory();
    expect(history.events?.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toBe(false);
    expect((await stack.view(session.linkToken)).payment_account).toBeNull();
  });

  it('what Temporal keeps unencrypted never reaches the strict codec: search attributes, and headers from interceptors', async () => {
    const session = await stack.createSession({ payment: { product: 'auth' } });
    const workflowId = linkSessionWorkflowId(session.linkToken);
    // The start request carried plain search attributes; the running workflow published its own.
    const described = await session.handle.describe();
    expect(described.searchAttributes.LinkSessionStatus).toEqual(['waiting_for_user']);
    // A client whose interceptor adds an unencrypted header (as tracing interceptors do) to a
    // genuine, signed webhook signal: the signal is acted on.
    const traced = new Client({
      connection: stack.client.connection,
      namespace: stack.temporal.namespace,
      dataConverter: linkflowDataConverter(stack.codec),
      interceptors: {
        workflow: [
          {
            signal: (input, next) =>
              next({
                ...input,
                headers: { ...input.headers, trace: defaultPayloadConverter.toPayload('span-1') },
              }),
          },
        ],
      },
    });
    const link = await stack.completeLink(session.linkToken, {
      institutions: ['ins_109508'],
      webhooks: { drop: true },
    });
    const [publicToken] = link.public_tokens;
    if (!publicToken) throw new Error('no public token');
    await traced.workflow.getHandle(workflowId).signal(
      itemAddResultSignal,
      signWebhookSignal(stack.keyring, workflowId, {
        public_token: publicToken,
        link_session_id: link.link_session_id,
        received_at: new Date().toISOString(),
      }),
    );
    const view = await untilStatus(
      stack,
      session.linkToken,
      (s) => s === 'awaiting_payment_account' || s === 'exchanging',
    );
    expect(view.errors.filter((e) => e.code === 'SIGNAL_REJECTED')).toEqual([]);
    const history = await session.handle.fetchHistory();
    const signalled = history.events?.find(
      (e) => e.workflowExecutionSignaledEventAttributes,
    )?.workflowExecutionSignaledEventAttributes;
    expect(Object.keys(signalled?.header?.fields ?? {})).toEqual(['trace']);
  });
});
