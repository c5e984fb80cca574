/**
 * The whole service (`npm start`: emulator, worker and API in one process; Temporal outside it
 * here, as in production) SIGKILLed right after the user finished Link, while Plaid's webhooks
 * were still on their way. Plaid keeps what it acknowledged and retries its webhooks; linkflow's
 * workflows live in Temporal. Started again on the same data dir, the service must exchange every
 * public token, each exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { SessionView } from '../../src/workflows/types';
import { freePort, REPO_ROOT, waitFor } from '../helpers/linkflowStack';

const API_KEY = 'service-kill-api-key-0123456789abcdef';
const children: ChildProcess[] = [];
let dataDir: string | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function startService(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/start.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  child.stderr?.resume();
  children.push(child);
  return child;
}

async function killed(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

describe('chaos: the whole service killed', () => {
  it('SIGKILLed right after Link completed, with webhooks pending: restarted, it exchanges every token once', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'linkflow-kill-'));
    const port = await freePort();
    const emulatorPort = await freePort();
    const api = `http://127.0.0.1:${port}`;
    const emulator = `http://127.0.0.1:${emulatorPort}`;
    const env = {
      PORT: String(port),
      PLAID_EMULATOR_PORT: String(emulatorPort),
      PLAID_WEBHOOK_URL: `${api}/webhooks/plaid`,
      LINKFLOW_DATA_DIR: dataDir,
      LINKFLOW_API_KEY: API_KEY,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: inject('temporalNamespace'),
      TEMPORAL_TASK_QUEUE: `service-kill-${randomUUID()}`,
      LINKFLOW_POLL_AFTER: '3s',
      LINKFLOW_POLL_EVERY: '1s',
    };
    const call = async <T>(url: string, method = 'GET', body?: unknown): Promise<T> => {
      const res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      if (!res.ok) throw new Error(`${method} ${url} -> ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const up = () =>
      waitFor('the service to answer', async () => (await fetch(`${api}/healthz`).catch(() => null))?.ok, {
        timeoutMs: 90_000,
        intervalMs: 200,
      });

    let service = startService(env);
    await up();
    const created = await call<{ session_id: string; link_token: string }>(`${api}/link/sessions`, 'POST', {
      client_user_id: 'killed-service-user',
    });
    const link = await call<{ public_tokens: string[] }>(`${emulator}/__emulator/link/complete`, 'POST', {
      link_token: created.link_token,
      institutions: ['ins_109508', 'ins_109509', 'ins_109510'],
      webhooks: { delay_ms: 1_500 },
    });
    // The acknowledged completion must survive; its webhooks are still scheduled.
    await killed(service);

    service = startService(env);
    await up();
    const done = await waitFor(
      'every Item of the session exchanged after the restart',
      async () => {
        const v = await call<SessionView>(`${api}/link/sessions/${created.session_id}`);
        return v.status === 'completed' ? v : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    expect(done.items.map((i) => i.status)).toEqual(['exchanged', 'exchanged', 'exchanged']);
    const state = await call<{ exchanges: Record<string, number> }>(`${emulator}/__emulator/state`);
    expect(link.public_tokens.map((t) => state.exchanges[t])).toEqual([1, 1, 1]);
    await killed(service);
  }, 240_000);
});
