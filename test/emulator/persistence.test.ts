/**
 * The state file: a restarted emulator keeps link tokens, sessions, Items, access tokens, signing
 * keys and pending webhook retries (which resume).
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { completeLink, multiItemLinkToken, plaidFailure, startReceiver, verifyPlaidWebhook } from './helpers';

describe('emulator: state file', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linkflow-emulator-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('survives a restart: link token, Item, access token and a pending webhook retry', async () => {
    const stateFile = join(dir, 'emulator-state.json');
    const receiver = await startReceiver(() => 500);
    try {
      // First run: the receiver is down (500), the retry is scheduled a minute out.
      const first = await startEmulator({ port: 0, stateFile, webhookRetryDelaysMs: [60_000] });
      const plaid1 = createPlaidClient({ basePath: first.url, clientId: 'test', secret: 'test' });
      const { linkToken } = await multiItemLinkToken(plaid1, {
        clientUserId: 'persist',
        webhook: receiver.url,
      });
      const done = await completeLink(first.url, {
        link_token: linkToken,
        institutions: ['ins_109508', 'ins_109509'],
      });
      const { access_token, item_id } = (
        await plaid1.itemPublicTokenExchange({ public_token: done.public_tokens[0] as string })
      ).data;
      await receiver.waitFor(3);
      // Nothing in flight and nothing due now: only the minute-long retries remain.
      await first.emulator.idle(0);
      expect(first.emulator.state().webhooks.every((w) => w.attempts === 1 && !w.delivered)).toBe(true);
      await first.close();

      const saved = JSON.parse(await readFile(stateFile, 'utf8'));
      expect(Object.keys(saved.link_tokens)).toContain(linkToken);
      expect(saved.signing_keys[0].private_jwk.d).toBeTruthy();

      // Second run from the file, with a short schedule and a healthy receiver.
      receiver.setStatus(() => 200);
      const second = await startEmulator({ port: 0, stateFile, webhookRetryDelaysMs: [20, 50] });
      try {
        const plaid2 = createPlaidClient({ basePath: second.url, clientId: 'test', secret: 'test' });
        const got = (await plaid2.linkTokenGet({ link_token: linkToken })).data;
        expect(got.link_sessions?.[0]?.results?.item_add_results.map((r) => r.public_token)).toEqual(
          done.public_tokens,
        );
        expect((await plaid2.itemGet({ access_token })).data.item.item_id).toBe(item_id);
        // The first token stays used; the second is still exchangeable exactly once.
        expect(
          (
            await plaidFailure(
              plaid2.itemPublicTokenExchange({ public_token: done.public_tokens[0] as string }),
            )
          ).body.error_code,
        ).toBe('INVALID_PUBLIC_TOKEN');
        await plaid2.itemPublicTokenExchange({ public_token: done.public_tokens[1] as string });

        await receiver.waitFor(6);
        await second.emulator.idle();
        const hooks = second.emulator.state().webhooks;
        expect(hooks).toHaveLength(3);
        for (const w of hooks) expect(w).toMatchObject({ attempts: 2, delivered: true });
        expect(second.emulator.state().exchanges).toEqual({
          [done.public_tokens[0] as string]: 1,
          [done.public_tokens[1] as string]: 1,
        });
        // Retries after the restart are signed with the same, persisted key.
        for (const r of receiver.received.slice(3))
          expect(await verifyPlaidWebhook(plaid2, r.headers, r.raw)).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      await receiver.close();
    }
  });

  it('keeps an in-flight delivery pending when closed mid-request, and sends it after the restart', async () => {
    const stateFile = join(dir, 'in-flight.json');
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const receiver = await startReceiver();
    // A receiver that never answers the first run in time.
    const first = await createEmulator({
      stateFile,
      fetch: async (input, init) => {
        await new Promise<void>((resolve, reject) => {
          const signal = init?.signal;
          if (signal?.aborted) return reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason));
          void held.then(resolve);
        });
        return fetch(input, init);
      },
    });
    const server = await startEmulatorFromApp(first.app);
    try {
      const plaid = createPlaidClient({ basePath: server.url, clientId: 'test', secret: 'test' });
      const { linkToken } = await multiItemLinkToken(plaid, {
        clientUserId: 'in-flight',
        webhook: receiver.url,
      });
      await completeLink(server.url, { link_token: linkToken, institutions: ['ins_109508'] });
    } finally {
      await first.close();
      release();
      await server.close();
    }
    expect(first.state().webhooks[0]).toMatchObject({ attempts: 0, delivered: false });
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(
      saved.webhooks.map((w: { attempts: number; next_attempt_at: number | null }) => w.attempts),
    ).toEqual([0, 0]);

    const second = await createEmulator({ stateFile, webhookRetryDelaysMs: [20] });
    try {
      await receiver.waitFor(2);
      await second.idle();
      expect(second.state().webhooks.map((w) => [w.webhook_code, w.delivered])).toEqual([
        ['ITEM_ADD_RESULT', true],
        ['SESSION_FINISHED', true],
      ]);
    } finally {
      await second.close();
      await receiver.close();
    }
  });
});

/** Serves an already created emulator app on a free port (for emulators built with createEmulator). */
async function startEmulatorFromApp(app: { fetch: (req: Request) => Response | Promise<Response> }) {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as Server).closeAllConnections();
      }),
  };
}
