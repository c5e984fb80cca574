/**
 * `npm run demo [-- --drop-webhooks] [--timeout 10m] [--keep-running]`: one Multi-Item Link
 * session end to end, through the API as a client backend would drive it.
 *
 * Against a running `npm start` (API at http://$HOST:$PORT, key from LINKFLOW_API_KEY or
 * $LINKFLOW_DATA_DIR/dev-secrets.json, emulator at PLAID_EMULATOR_PORT); when nothing answers on
 * the API port it starts the embedded stack in-process (src/main/stack.ts) and stops it at the
 * end (`--keep-running` keeps it up until Ctrl-C, so the Temporal UI link stays live).
 *
 * It creates a session (payment: auth), plays a three-institution Multi-Item Link through the
 * emulator (`--drop-webhooks` drops every LINK webhook, so the workflow's /link/token/get polling
 * fallback shows), prints a timeline by polling the session, picks the first eligible account and
 * prints the final view and the Temporal UI link. With its own embedded stack it also runs a small
 * receiver (src/main/demoEventReceiver.ts) for the stack's signed outbound events and shows each
 * verified event in the timeline. Exit 0 on `completed`, 1 on any other outcome,
 * 2 when the API or the emulator cannot be reached or the configuration is wrong.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DEV_SECRETS_FILE } from '../config/devSecrets';
import { parseDuration } from '../config/duration';
import { ConfigError, type Env, loadEnv, plaidBaseUrl } from '../config/env';
import { createLogger } from '../observability/logger';
import { linkSessionWorkflowId } from '../workflows/definitions';
import type { SessionView } from '../workflows/types';
import { type DemoEventReceiver, startDemoEventReceiver } from './demoEventReceiver';
import { StartupError, startStack, TEMPORAL_UI_PORT } from './stack';

class DemoError extends Error {
  constructor(
    message: string,
    readonly code = 2,
  ) {
    super(message);
  }
}

const TERMINAL = new Set(['completed', 'exited', 'expired', 'failed']);
const REASONS: Record<string, string> = {
  not_checking_or_savings: 'not a checking or savings account',
  item_without_auth: "this bank's connection doesn't support Auth",
};

const t0 = Date.now();
const out = (line: string) => process.stdout.write(`${line}\n`);
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
const say = (line: string) => out(`${stamp()} ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bar(done: number, total: number): string {
  const width = 12;
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

function loopbackUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

type Probe = 'up' | 'down';

/** `up` when a linkflow API answers, `down` when nothing listens; throws when something else does. */
async function probeApi(apiUrl: string): Promise<Probe> {
  let res: Response;
  try {
    res = await fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(3000) });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED' || code === 'EADDRNOTAVAIL') return 'down';
    throw new DemoError(`The API at ${apiUrl} did not answer (${code ?? (err as Error).message}).`);
  }
  const body = (await res.json().catch(() => null)) as { ok?: boolean; temporal?: string } | null;
  if (!res.ok || body?.ok !== true) {
    throw new DemoError(
      `Something answers at ${apiUrl} but it is not a linkflow API (GET /healthz → ${res.status}).`,
    );
  }
  if (body.temporal === 'unreachable') {
    throw new DemoError(
      `The API at ${apiUrl} answers but cannot reach Temporal; check the npm start output.`,
    );
  }
  return 'up';
}

async function apiKeyFor(env: Env): Promise<string> {
  if (env.LINKFLOW_API_KEY) return env.LINKFLOW_API_KEY;
  const file = join(env.LINKFLOW_DATA_DIR, DEV_SECRETS_FILE);
  try {
    const { apiKey } = JSON.parse(await readFile(file, 'utf8')) as { apiKey?: unknown };
    if (typeof apiKey === 'string' && apiKey.length > 0) return apiKey;
  } catch {
    // Reported below.
  }
  throw new DemoError(`No API key: set LINKFLOW_API_KEY to the key npm start printed (none in ${file}).`);
}

function client(apiUrl: string, apiKey: string) {
  return async <T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    let res: Response;
    try {
      res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new DemoError(`The API at ${apiUrl} could not be reached: ${(err as Error).message}.`);
    }
    const json = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
    if (res.status === 401) {
      throw new DemoError(
        `The API at ${apiUrl} refused the key: set LINKFLOW_API_KEY to the key npm start printed.`,
      );
    }
    if (!res.ok) {
      throw new DemoError(
        `${method} ${path} → ${res.status} ${json.error?.code ?? ''}: ${json.error?.message ?? ''}`.trim(),
        1,
      );
    }
    return json as T;
  };
}

async function emulatorCall<T>(emulatorUrl: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${emulatorUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    throw new DemoError(
      `The Plaid emulator at ${emulatorUrl} cannot be reached (${code ?? (err as Error).message}): is npm start running with PLAID_ENV=emulator?`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as T & { error_code?: string; error_message?: string };
  if (!res.ok) {
    throw new DemoError(
      `emulator ${path} → ${res.status} ${json.error_code ?? ''}: ${json.error_message ?? ''}`,
      1,
    );
  }
  return json;
}

interface Catalogue {
  institutions: Array<{ institution_id: string; name: string; supports_auth: boolean }>;
}

/** Prints what changed between two views of the session. */
function narrate(prev: SessionView | null, view: SessionView, expectedItems: number) {
  const key = (item: SessionView['items'][number], index: number) => item.item_id ?? `#${index}`;
  const nameOf = (item: SessionView['items'][number] | undefined) =>
    item?.institution.name ?? item?.institution.institution_id ?? null;
  const before = new Map((prev?.items ?? []).map((item, index) => [key(item, index), item]));
  view.items.forEach((item, index) => {
    const old = before.get(key(item, index));
    const name = nameOf(item);
    const progress = bar(index + 1, expectedItems);
    if (item.status === 'failed') {
      if (old?.status !== 'failed') {
        say(
          `Item failed: ${name ?? 'unknown institution'}: ${item.error?.code ?? 'error'} ${item.error?.message ?? ''}`,
        );
      }
    } else if (!old) {
      say(
        name
          ? `Item arrived: ${name} — token exchanged, ${item.accounts.length} account(s)  ${progress}`
          : `Item arrived: ${item.item_id} — token exchanged, reading its accounts  ${progress}`,
      );
    } else if (name && !nameOf(old)) {
      say(`Item described: ${name}, ${item.accounts.length} account(s)`);
    }
  });
  if (view.polling.active && !prev?.polling.active) {
    say('webhooks went quiet: polling /link/token/get');
  }
  if (view.polling.polls > (prev?.polling.polls ?? 0)) {
    say(`polled /link/token/get (${view.polling.polls} so far)${view.polling.active ? '' : ', reconciling'}`);
  }
  for (const e of view.errors.slice(prev?.errors.length ?? 0)) say(`error ${e.code}: ${e.message}`);
  if (!prev || prev.status !== view.status) {
    say(`status ${prev ? `${prev.status} → ` : ''}${view.status}`);
  }
  if (view.status === 'awaiting_payment_account' && prev?.status !== view.status) {
    const total = view.eligible_accounts.length + view.ineligible_accounts.length;
    say(`eligibility: ${view.eligible_accounts.length} of ${total} account(s) can move money`);
    for (const a of view.eligible_accounts) {
      out(`          ✓ ${a.institution_name}  ${a.name} ••${a.mask} (${a.subtype})`);
    }
    for (const a of view.ineligible_accounts) {
      out(`          ✗ ${a.institution_name}  ${a.name} ••${a.mask} (${a.subtype}): ${REASONS[a.reason]}`);
    }
    say('waiting for the payment-account choice');
  }
}

async function run(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'drop-webhooks': { type: 'boolean', default: false },
      'keep-running': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '10m' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out('usage: npm run demo [-- --drop-webhooks] [--timeout 10m] [--keep-running]');
    return 0;
  }
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(values.timeout);
  } catch (err) {
    throw new DemoError(`--timeout: ${(err as Error).message}`);
  }
  const dropWebhooks = values['drop-webhooks'];

  let env = loadEnv();
  if (env.PLAID_ENV !== 'emulator') {
    throw new DemoError(
      `npm run demo plays Link through the Plaid emulator; with PLAID_ENV=${env.PLAID_ENV} open the /demo page in a browser instead.`,
    );
  }
  let apiUrl = loopbackUrl(env.HOST, env.PORT);
  let emulatorUrl = plaidBaseUrl(env);
  let apiKey: string;
  let stopStack: (() => Promise<void>) | null = null;
  let events: DemoEventReceiver | null = null;
  let uiBase = `http://127.0.0.1:${TEMPORAL_UI_PORT}`;

  out(
    `linkflow demo: one Multi-Item Link session, three banks, payment product auth${dropWebhooks ? ', webhooks dropped' : ''}`,
  );
  if ((await probeApi(apiUrl)) === 'up') {
    say(`using the running API at ${apiUrl}`);
    apiKey = await apiKeyFor(env);
    if (dropWebhooks) {
      say(
        "webhooks will be dropped: the session polls /link/token/get after the server's LINKFLOW_POLL_AFTER (5m by default)",
      );
    }
  } else {
    say(`nothing answers at ${apiUrl}: starting the embedded stack in this process`);
    // A small receiver plays the lender's backend: the stack sends it its signed events.
    events = await startDemoEventReceiver((e) =>
      say(`event ${e.type}${e.data.item_id ? ` (${e.data.item_id})` : ''} received, signature verified`),
    );
    // Short polling timings for this stack (unless set), so --drop-webhooks shows in seconds.
    env = loadEnv({
      LINKFLOW_POLL_AFTER: '5s',
      LINKFLOW_POLL_EVERY: '2s',
      LINKFLOW_EVENTS_URL: events.url,
      LINKFLOW_EVENTS_SECRET: events.secret,
      LINKFLOW_EVENTS_RETRY_INITIAL: '1s',
      ...process.env,
    });
    const logger = createLogger({ name: 'linkflow', level: process.env.LOG_LEVEL ?? 'warn' });
    // Keep the SDK's worker lifecycle chatter out of the timeline; warnings still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const stack = await startStack(env, { logger });
    stopStack = stack.stop;
    stopping = stack.stop;
    apiUrl = stack.apiUrl;
    apiKey = stack.apiKey;
    emulatorUrl = stack.emulatorUrl ?? emulatorUrl;
    if (stack.uiUrl) uiBase = stack.uiUrl;
    say(`embedded stack up: API ${apiUrl}, Temporal UI ${uiBase}, emulator ${emulatorUrl}`);
  }

  try {
    const api = client(apiUrl, apiKey);
    const catalogue = await emulatorCall<Catalogue>(emulatorUrl, '/__emulator/institutions');
    const picks = catalogue.institutions.slice(0, 3);

    const clientUserId = `demo-user-${randomUUID().slice(0, 8)}`;
    const created = await api<{ session_id: string; user_id: string; link_token: string }>(
      'POST',
      '/link/sessions',
      { client_user_id: clientUserId, client_name: 'linkflow demo', payment: { product: 'auth' } },
      { 'idempotency-key': `demo-${randomUUID()}` },
    );
    const sessionId = created.session_id;
    say(`session created: ${sessionId}`);
    out(`          client_user_id ${clientUserId}, Plaid user ${created.user_id}`);

    const linked = await emulatorCall<{ link_session_id: string; items: unknown[] }>(
      emulatorUrl,
      '/__emulator/link/complete',
      {
        link_token: created.link_token,
        institutions: picks.map((i) => i.institution_id),
        ...(dropWebhooks && { webhooks: { drop: true } }),
      },
    );
    say(
      `Link played (${linked.link_session_id}): ${picks.map((i) => i.name).join(', ')}${dropWebhooks ? ' — every webhook dropped' : ''}`,
    );

    const deadline = Date.now() + timeoutMs;
    const path = `/link/sessions/${encodeURIComponent(sessionId)}`;
    let prev: SessionView | null = null;
    let view = await api<SessionView>('GET', path);
    for (;;) {
      narrate(prev, view, picks.length);
      prev = view;
      if (view.status === 'awaiting_payment_account' || TERMINAL.has(view.status)) break;
      if (Date.now() > deadline)
        throw new DemoError(`no outcome within ${values.timeout} (status ${view.status})`, 1);
      await sleep(250);
      view = await api<SessionView>('GET', path);
    }

    if (view.status === 'awaiting_payment_account') {
      const chosen = view.eligible_accounts[0];
      if (!chosen) throw new DemoError('no eligible account: nothing can move money', 1);
      say(`choosing ${chosen.institution_name} ${chosen.name} ••${chosen.mask} (${chosen.subtype})`);
      view = await api<SessionView>('POST', `${path}/payment-account`, { account_id: chosen.account_id });
      while (!TERMINAL.has(view.status) && Date.now() < deadline) {
        narrate(prev, view, picks.length);
        prev = view;
        await sleep(250);
        view = await api<SessionView>('GET', path);
      }
      narrate(prev, view, picks.length);
      if (view.payment_account) {
        say(
          `payment account set up with ${view.payment_account.product}: ${JSON.stringify(view.payment_account.result)}`,
        );
      }
    }

    if (events) {
      // The session's last event follows its final view by a moment: wait for it (bounded).
      const last = `link_session.${view.status}`;
      const until = Date.now() + 10_000;
      while (!events.received.some((e) => e.type === last) && Date.now() < until) await sleep(100);
      out(`          ${events.received.length} event(s) received by the demo's receiver`);
    }
    out('');
    out('final session view:');
    out(JSON.stringify(view, null, 2));
    out('');
    const uiLink = `${uiBase}/namespaces/${encodeURIComponent(env.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(linkSessionWorkflowId(sessionId))}`;
    out(`Temporal UI: ${uiLink}`);
    if (stopStack && !values['keep-running']) {
      out('(the embedded stack stops now; run npm start, or npm run demo -- --keep-running, to browse it)');
    }
    out(view.status === 'completed' ? 'result: completed' : `result: ${view.status}`);
    if (stopStack && values['keep-running']) {
      out('embedded stack still running: Ctrl-C stops it');
      await new Promise(() => {});
    }
    return view.status === 'completed' ? 0 : 1;
  } finally {
    if (stopStack && !values['keep-running']) {
      await stopStack();
      await events?.close();
    }
  }
}

let stopping: (() => Promise<void>) | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (stopping?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

run().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof DemoError || err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`demo: ${err.message.replace(/\n\s*/g, ' ')}\n`);
      process.exit(err instanceof DemoError ? err.code : 2);
    }
    process.stderr.write(`demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
