/**
 * The state file: a restarted emulator keeps link tokens, sessions, Items, access tokens, signing
 * keys and pending webhook retries (which resume).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { freePort } from '../helpers/freePort';
import {
  completeLink,
  control,
  multiItemLinkToken,
  plaidFailure,
  startReceiver,
  verifyPlaidWebhook,
} from './helpers';

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

  it('stops retrying a webhook 24 hours after its first attempt, as Plaid does', async () => {
    const stateFile = join(dir, 'window.json');
    const receiver = await startReceiver(() => 500);
    try {
      const first = await startEmulator({ port: 0, stateFile, webhookRetryDelaysMs: [3_600_000] });
      const plaid = createPlaidClient({ basePath: first.url, clientId: 'test', secret: 'test' });
      const { linkToken } = await multiItemLinkToken(plaid, {
        clientUserId: 'window',
        webhook: receiver.url,
      });
      const opened = await control(first.url, '/__emulator/link/sessions', { link_token: linkToken });
      await control(first.url, `/__emulator/link/sessions/${opened.body.link_session_id}/items`, {
        institution_id: 'ins_109508',
      });
      await receiver.waitFor(1);
      await first.emulator.idle(0);
      await first.close();

      // The first attempt was almost a day ago: one more failure and the window is over.
      const saved = JSON.parse(await readFile(stateFile, 'utf8'));
      saved.webhooks[0].first_attempt_at -= 24 * 3_600_000 - 60_000;
      await writeFile(stateFile, JSON.stringify(saved));

      const second = await startEmulator({
        port: 0,
        stateFile,
        webhookRetryDelaysMs: [10, 120_000, 120_000],
      });
      try {
        await receiver.waitFor(2);
        await second.emulator.idle();
        expect(second.emulator.state().webhooks[0]).toMatchObject({
          attempts: 2,
          delivered: false,
          failed: true,
        });
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

/**
 * `npm run emulator` as a real child process, SIGKILLed right after an answer: whatever it answered
 * is in the state file (fsync'd before the answer), and what it had scheduled resumes.
 */
describe('emulator: SIGKILL right after an answer', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linkflow-emulator-kill-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  interface Child {
    url: string;
    kill(): Promise<void>;
  }

  async function spawnEmulator(stateFile: string, env: Record<string, string> = {}): Promise<Child> {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main/emulator.ts', '--state-file', stateFile],
      {
        env: { ...process.env, PLAID_EMULATOR_PORT: String(port), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = once(child, 'exit');
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Plaid emulator: http')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`emulator exited (${code}) before listening: ${out}`)));
    });
    return {
      url: `http://127.0.0.1:${port}`,
      async kill() {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  it('keeps a completed Link whose webhooks were still delayed, and sends them after the restart', async () => {
    const stateFile = join(dir, 'complete.json');
    const receiver = await startReceiver();
    try {
      const first = await spawnEmulator(stateFile);
      const plaid1 = createPlaidClient({ basePath: first.url, clientId: 'test', secret: 'test' });
      const { linkToken } = await multiItemLinkToken(plaid1, {
        clientUserId: 'killed',
        webhook: receiver.url,
      });
      const done = await completeLink(first.url, {
        link_token: linkToken,
        institutions: ['ins_109508', 'ins_109509', 'ins_linkflow_zero_balance'],
        webhooks: { delay_ms: 60_000 },
      });
      await first.kill();
      expect(receiver.received).toHaveLength(0);
      expect((await stat(stateFile)).mode & 0o777).toBe(0o600);

      const second = await spawnEmulator(stateFile, { PLAID_EMULATOR_WEBHOOK_RETRY_MS: '20,50' });
      try {
        const plaid2 = createPlaidClient({ basePath: second.url, clientId: 'test', secret: 'test' });
        const [session] = (await plaid2.linkTokenGet({ link_token: linkToken })).data.link_sessions ?? [];
        expect(session?.link_session_id).toBe(done.link_session_id);
        expect(session?.results?.item_add_results.map((r) => r.public_token)).toEqual(done.public_tokens);
        const hooks = await receiver.waitFor(4);
        expect(hooks.map((h) => h.body.webhook_code).sort()).toEqual([
          'ITEM_ADD_RESULT',
          'ITEM_ADD_RESULT',
          'ITEM_ADD_RESULT',
          'SESSION_FINISHED',
        ]);
        for (const t of done.public_tokens) {
          expect((await plaid2.itemPublicTokenExchange({ public_token: t })).status).toBe(200);
        }
      } finally {
        await second.kill();
      }
    } finally {
      await receiver.close();
    }
  });

  it('keeps an exchange it answered, a session in progress, and a webhook retry it had scheduled', async () => {
    const stateFile = join(dir, 'steps.json');
    const receiver = await startReceiver(() => 500);
    try {
      const first = await spawnEmulator(stateFile, { PLAID_EMULATOR_WEBHOOK_RETRY_MS: '600000' });
      const plaid1 = createPlaidClient({ basePath: first.url, clientId: 'test', secret: 'test' });
      const { linkToken } = await multiItemLinkToken(plaid1, {
        clientUserId: 'steps',
        webhook: receiver.url,
      });
      const opened = await control(first.url, '/__emulator/link/sessions', { link_token: linkToken });
      const added = await control(
        first.url,
        `/__emulator/link/sessions/${opened.body.link_session_id}/items`,
        {
          institution_id: 'ins_109508',
        },
      );
      // The receiver refuses the ITEM_ADD_RESULT; its retry is ten minutes out.
      await receiver.waitFor(1);
      const exchanged = (await plaid1.itemPublicTokenExchange({ public_token: added.body.public_token }))
        .data;
      await first.kill();

      receiver.setStatus(() => 200);
      const second = await spawnEmulator(stateFile, { PLAID_EMULATOR_WEBHOOK_RETRY_MS: '20' });
      try {
        const plaid2 = createPlaidClient({ basePath: second.url, clientId: 'test', secret: 'test' });
        const [session] = (await plaid2.linkTokenGet({ link_token: linkToken })).data.link_sessions ?? [];
        expect(session).toMatchObject({ link_session_id: opened.body.link_session_id, finished_at: null });
        expect(session?.results?.item_add_results.map((r) => r.public_token)).toEqual([
          added.body.public_token,
        ]);
        expect((await plaid2.itemGet({ access_token: exchanged.access_token })).data.item.item_id).toBe(
          exchanged.item_id,
        );
        const again = await plaidFailure(
          plaid2.itemPublicTokenExchange({ public_token: added.body.public_token }),
        );
        expect(again.body.error_code).toBe('INVALID_PUBLIC_TOKEN');
        const hooks = await receiver.waitFor(2);
        expect(hooks[1]?.body).toMatchObject({
          webhook_code: 'ITEM_ADD_RESULT',
          public_token: added.body.public_token,
        });
        expect(hooks[1]?.status).toBe(200);
      } finally {
        await second.kill();
      }
    } finally {
      await receiver.close();
    }
  });
});
