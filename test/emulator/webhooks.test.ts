/**
 * LINK webhooks: signed like Plaid's (verified the way Plaid tells integrators to), key rotation,
 * and delivery faults — drop, duplicate, shuffle, delay — and retries on non-200 answers.
 */
import { decodeProtectedHeader } from 'jose';
import type { PlaidApi } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { resolveOptions } from '../../src/emulator/options';
import { PLAID_RETRY_DELAYS_MS, parseRetryAfter } from '../../src/emulator/webhooks';
import { createPlaidClient } from '../../src/plaid/client';
import {
  completeLink,
  control,
  multiItemLinkToken,
  type Receiver,
  startReceiver,
  verifyPlaidWebhook,
} from './helpers';

const THREE = ['ins_109508', 'ins_109509', 'ins_linkflow_no_auth'];

async function withEmulator<T>(
  opts: Parameters<typeof startEmulator>[0],
  fn: (s: StartedEmulator, plaid: PlaidApi, receiver: Receiver) => Promise<T>,
): Promise<T> {
  const receiver = await startReceiver();
  const started = await startEmulator({ port: 0, ...opts });
  try {
    return await fn(
      started,
      createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' }),
      receiver,
    );
  } finally {
    await started.close();
    await receiver.close();
  }
}

describe('emulator: webhook signatures', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    started = await startEmulator({ port: 0, webhookRetryDelaysMs: [20, 50] });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
    await receiver?.close();
  });

  it('signs every webhook so that Plaid’s documented verification accepts it, and a tampered body fails', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'sig-user',
      webhook: receiver.url,
    });
    await completeLink(started.url, { link_token: linkToken, institutions: THREE });
    const hooks = await receiver.waitFor(4);
    for (const h of hooks) {
      const header = decodeProtectedHeader(h.headers['plaid-verification'] as string);
      expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT' });
      expect(await verifyPlaidWebhook(plaid, h.headers, h.raw)).toBe(true);
    }
    const first = hooks[0];
    if (!first) throw new Error('no webhook');
    const tampered = Buffer.from(first.raw.toString('utf8').replace('ITEM_ADD_RESULT', 'ITEM_ADD_RESULS'));
    expect(await verifyPlaidWebhook(plaid, first.headers, tampered)).toBe(false);
    // Re-serialising changes the bytes: only the exact body sent verifies.
    expect(await verifyPlaidWebhook(plaid, first.headers, Buffer.from(JSON.stringify(first.body)))).toBe(
      false,
    );

    const { kid } = decodeProtectedHeader(first.headers['plaid-verification'] as string);
    const key = (await plaid.webhookVerificationKeyGet({ key_id: kid as string })).data.key;
    expect(key).toMatchObject({ alg: 'ES256', crv: 'P-256', kid, kty: 'EC', use: 'sig', expired_at: null });
    expect(key.x).toBeTruthy();
    expect(key.y).toBeTruthy();
    expect(Math.abs(key.created_at - Date.now() / 1000)).toBeLessThan(600);
    expect(key).not.toHaveProperty('d');
  });

  it('rotates the signing key: the old one shows expired_at, new webhooks use the new kid', async () => {
    const before = receiver.received.length;
    const { linkToken } = await multiItemLinkToken(plaid, {
      clientUserId: 'rotate-user',
      webhook: receiver.url,
    });
    await completeLink(started.url, { link_token: linkToken, institutions: ['ins_109508'] });
    const oldHooks = await receiver.waitFor(before + 2);
    const oldKid = decodeProtectedHeader(oldHooks[before]?.headers['plaid-verification'] as string)
      .kid as string;

    const rotated = await control(started.url, '/__emulator/webhook_key/rotate');
    expect(rotated.body.expired_kid).toBe(oldKid);
    const expired = (await plaid.webhookVerificationKeyGet({ key_id: oldKid })).data.key;
    expect(expired.expired_at).toEqual(expect.any(Number));

    await completeLink(started.url, { link_token: linkToken, institutions: ['ins_109509'] });
    const newHooks = await receiver.waitFor(before + 4);
    const newKid = decodeProtectedHeader(newHooks[before + 2]?.headers['plaid-verification'] as string).kid;
    expect(newKid).toBe(rotated.body.kid);
    expect(newKid).not.toBe(oldKid);
    expect(
      await verifyPlaidWebhook(
        plaid,
        newHooks[before + 2]?.headers ?? {},
        newHooks[before + 2]?.raw as Buffer,
      ),
    ).toBe(true);
    expect(
      (await plaid.webhookVerificationKeyGet({ key_id: newKid as string })).data.key.expired_at,
    ).toBeNull();
  });

  it('sends no LINK webhooks for a token without Multi-Item Link or without a webhook URL', async () => {
    const before = receiver.received.length;
    const { user_id } = (await plaid.userCreate({ client_user_id: 'single-item' })).data;
    const single = (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'single-item' },
        user_id,
        client_name: 'linkflow',
        language: 'en',
        country_codes: ['US' as never],
        products: ['auth' as never],
        webhook: receiver.url,
      })
    ).data;
    const many = await control(started.url, '/__emulator/link/complete', {
      link_token: single.link_token,
      institutions: THREE,
    });
    expect(many.status).toBe(400);
    await completeLink(started.url, { link_token: single.link_token, institutions: ['ins_109508'] });
    await started.emulator.idle();
    expect(receiver.received.length).toBe(before);
  });
});

describe('emulator: webhook delivery faults and retries', () => {
  it('drops every webhook with drop: true (state shows them dropped)', async () => {
    await withEmulator({}, async (s, plaid, receiver) => {
      const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'drop', webhook: receiver.url });
      await completeLink(s.url, { link_token: linkToken, institutions: THREE, webhooks: { drop: true } });
      await s.emulator.idle();
      expect(receiver.received).toHaveLength(0);
      const hooks = s.emulator.state().webhooks;
      expect(hooks).toHaveLength(4);
      for (const h of hooks) expect(h).toMatchObject({ dropped: true, delivered: false, attempts: 0 });
    });
  });

  it('drops each webhook with a seeded probability', async () => {
    const run = () =>
      withEmulator({ seed: 1234 }, async (s, plaid, receiver) => {
        const { linkToken } = await multiItemLinkToken(plaid, {
          clientUserId: 'maybe-drop',
          webhook: receiver.url,
        });
        await completeLink(s.url, {
          link_token: linkToken,
          institutions: THREE,
          webhooks: { drop: 0.5, duplicate: 5 },
        });
        await s.emulator.idle();
        const dropped = s.emulator.state().webhooks.map((w) => w.dropped === true);
        expect(receiver.received).toHaveLength(dropped.filter((d) => !d).length);
        return dropped;
      });
    const first = await run();
    expect(first).toHaveLength(20);
    expect(first.some((d) => d)).toBe(true);
    expect(first.some((d) => !d)).toBe(true);
    expect(await run()).toEqual(first);
  });

  it('delivers each webhook N times with duplicate: N', async () => {
    await withEmulator({}, async (s, plaid, receiver) => {
      const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'dup', webhook: receiver.url });
      const done = await completeLink(s.url, {
        link_token: linkToken,
        institutions: THREE,
        webhooks: { duplicate: 3 },
      });
      await receiver.waitFor(12);
      await s.emulator.idle();
      expect(receiver.received).toHaveLength(12);
      const count = (pred: (b: { webhook_code: string; public_token?: string }) => boolean) =>
        receiver.received.filter((r) => pred(r.body)).length;
      expect(count((b) => b.webhook_code === 'SESSION_FINISHED')).toBe(3);
      for (const t of done.public_tokens) expect(count((b) => b.public_token === t)).toBe(3);
    });
  });

  it('shuffles the order with a seed, reproducibly', async () => {
    const pattern = (seed: number) =>
      withEmulator({ seed }, async (s, plaid, receiver) => {
        const { linkToken } = await multiItemLinkToken(plaid, {
          clientUserId: 'shuffle',
          webhook: receiver.url,
        });
        const done = await completeLink(s.url, {
          link_token: linkToken,
          institutions: THREE,
          webhooks: { shuffle: true },
        });
        const hooks = await receiver.waitFor(4);
        return hooks.map((h) =>
          h.body.webhook_code === 'SESSION_FINISHED'
            ? 'FINISHED'
            : `ITEM${done.public_tokens.indexOf(h.body.public_token)}`,
        );
      });
    const first = await pattern(99);
    expect(first).not.toEqual(['ITEM0', 'ITEM1', 'ITEM2', 'FINISHED']);
    expect([...first].sort()).toEqual(['FINISHED', 'ITEM0', 'ITEM1', 'ITEM2']);
    expect(await pattern(99)).toEqual(first);
  });

  it('waits delay_ms before each delivery', async () => {
    await withEmulator({}, async (s, plaid, receiver) => {
      const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'delay', webhook: receiver.url });
      const t0 = Date.now();
      await completeLink(s.url, {
        link_token: linkToken,
        institutions: ['ins_109508'],
        webhooks: { delay_ms: 60 },
      });
      expect(receiver.received).toHaveLength(0);
      await receiver.waitFor(2);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
    });
  });

  it('retries non-200 answers on the short schedule until delivered, re-signing each attempt', async () => {
    await withEmulator({ webhookRetryDelaysMs: [20, 50] }, async (s, plaid, receiver) => {
      // The receiver fails the first two deliveries of each webhook.
      const seen = new Map<string, number>();
      receiver.setStatus((_n, body) => {
        const b = body as { webhook_code: string; public_token?: string };
        const key = `${b.webhook_code}:${b.public_token ?? ''}`;
        const n = (seen.get(key) ?? 0) + 1;
        seen.set(key, n);
        return n <= 2 ? 503 : 200;
      });
      const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'retry', webhook: receiver.url });
      await completeLink(s.url, { link_token: linkToken, institutions: ['ins_109508'] });
      await s.emulator.idle();
      expect(receiver.received).toHaveLength(6);
      for (const w of s.emulator.state().webhooks)
        expect(w).toMatchObject({ attempts: 3, delivered: true, last_status: 200 });
      for (const r of receiver.received) expect(await verifyPlaidWebhook(plaid, r.headers, r.raw)).toBe(true);
      const finishedJwts = receiver.received
        .filter((r) => r.body.webhook_code === 'SESSION_FINISHED')
        .map((r) => r.headers['plaid-verification']);
      expect(new Set(finishedJwts).size).toBe(3);
    });
  });

  it('gives up after the last retry and when the receiver is unreachable', async () => {
    await withEmulator({ webhookRetryDelaysMs: [10, 10] }, async (s, plaid, receiver) => {
      receiver.setStatus(() => 500);
      const { linkToken } = await multiItemLinkToken(plaid, {
        clientUserId: 'give-up',
        webhook: receiver.url,
      });
      await completeLink(s.url, { link_token: linkToken, institutions: ['ins_109508'] });
      await s.emulator.idle();
      for (const w of s.emulator.state().webhooks)
        expect(w).toMatchObject({ attempts: 3, delivered: false, failed: true });

      const closedPort = await startReceiver();
      const deadUrl = closedPort.url;
      await closedPort.close();
      const dead = await multiItemLinkToken(plaid, { clientUserId: 'dead', webhook: deadUrl });
      await completeLink(s.url, { link_token: dead.linkToken, institutions: ['ins_109508'] });
      await s.emulator.idle();
      const deadHooks = s.emulator.state().webhooks.filter((w) => w.link_token === dead.linkToken);
      for (const w of deadHooks) expect(w).toMatchObject({ attempts: 3, failed: true, last_status: null });
    });
  });

  it('waits at least what the receiver asks in Retry-After, whatever the schedule says', async () => {
    await withEmulator({ webhookRetryDelaysMs: [10, 10] }, async (s, plaid, receiver) => {
      receiver.setStatus((n) => (n === 1 ? 503 : 200));
      receiver.setHeaders((n): Record<string, string> => (n === 1 ? { 'Retry-After': '1' } : {}));
      const { linkToken } = await multiItemLinkToken(plaid, {
        clientUserId: 'retry-after',
        webhook: receiver.url,
      });
      const sessionId = (await control(s.url, '/__emulator/link/sessions', { link_token: linkToken })).body
        .link_session_id;
      await control(s.url, `/__emulator/link/sessions/${sessionId}/items`, { institution_id: 'ins_109508' });
      const t0 = Date.now();
      await receiver.waitFor(1);
      await receiver.waitFor(2);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
      expect(receiver.received.map((r) => r.status)).toEqual([503, 200]);
    });
  });
});

describe('emulator: Plaid’s webhook retry schedule', () => {
  it('is the default: 30 s, then four times longer each time, within 24 hours of the first attempt', () => {
    expect(PLAID_RETRY_DELAYS_MS).toEqual([30_000, 120_000, 480_000, 1_920_000, 7_680_000, 30_720_000]);
    expect(PLAID_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(24 * 3_600_000);
    expect(resolveOptions({}, {}).retryDelaysMs).toEqual(PLAID_RETRY_DELAYS_MS);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});
