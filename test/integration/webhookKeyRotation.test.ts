/**
 * Issue 17, finding 4, end to end: the real API verifies the emulator's webhooks; once Plaid
 * rotated its signing key and a webhook under the new key arrived, webhooks signed with the
 * rotated-out key are refused (401) at once, not after the old key's hour in the cache.
 * Uses the emulator's `POST /__emulator/webhooks/replay` (CONTRACT.md).
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

type Replay = { responses: number[]; kid: string };

describe('a rotated-out Plaid signing key', () => {
  it('is refused as soon as the new key is in use, while the current key still verifies', async () => {
    const { linkToken } = await stack.createSession({ payment: { product: 'auth' } });
    await stack.completeLink(linkToken, { institutions: ['ins_109508', 'ins_109509'] });
    await untilStatus(stack, linkToken, (s) => s === 'awaiting_payment_account');
    // The API has verified (and cached) the first key with these webhooks.
    const first = await stack.emulator<Replay>('/__emulator/webhooks/replay', { link_token: linkToken });
    expect(first.responses).toHaveLength(3); // two ITEM_ADD_RESULT, one SESSION_FINISHED
    expect(first.responses.every((s) => s === 200)).toBe(true);

    const rotated = await stack.emulator<{ expired_kid: string; kid: string }>(
      '/__emulator/webhook_key/rotate',
      {},
    );
    expect(rotated.expired_kid).toBe(first.kid);
    // A webhook under the new key: verified, and the API re-fetches the keys it had cached.
    const current = await stack.emulator<Replay>('/__emulator/webhooks/replay', {
      link_token: linkToken,
      key: 'current',
    });
    expect(current.kid).toBe(rotated.kid);
    expect(current.responses).toEqual([200, 200, 200]);
    // Signed with the rotated-out key: refused, every one.
    const expired = await stack.emulator<Replay>('/__emulator/webhooks/replay', {
      link_token: linkToken,
      key: 'expired',
    });
    expect(expired.kid).toBe(rotated.expired_kid);
    expect(expired.responses).toEqual([401, 401, 401]);
    // Nothing changed for the session.
    const view = await stack.view(linkToken);
    expect(view.status).toBe('awaiting_payment_account');
    expect(view.items).toHaveLength(2);
  });

  it('the replay route answers like the emulator’s other control routes for bad input', async () => {
    const res = await fetch(`${stack.emulatorUrl}/__emulator/webhooks/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ link_token: 'link-sandbox-unknown' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('INVALID_LINK_TOKEN');
    const bad = await fetch(`${stack.emulatorUrl}/__emulator/webhooks/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ link_token: 'x', key: 'oldest' }),
    });
    expect(bad.status).toBe(400);
  });
});
