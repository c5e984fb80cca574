/**
 * `POST /webhooks/plaid` on the real dev server with the fixture workflow: verification, the
 * corpus of bad webhooks (each refused, none signalled), delivery, duplicates, unknown and
 * finished sessions, Temporal outages, redaction and metrics.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSessionWorkflowId } from '../../src/workflows/definitions';
import { DEFAULT_TIMING, type LinkSessionInput } from '../../src/workflows/types';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import {
  finishSignal,
  linkSessionWorkflow,
  receivedSignalsQuery,
  signalCountQuery,
} from './fixtures/linkSessionWorkflow';
import { type FakePlaid, sha256Hex, startFakePlaid } from './helpers/fakePlaid';
import { createHarness, type Harness, withFixtureWorker } from './helpers/harness';

const newLinkToken = () => `link-sandbox-${randomUUID()}`;
const pretty = (v: unknown) => JSON.stringify(v, null, 2);

function inputFor(linkToken: string, overrides: Partial<LinkSessionInput> = {}): LinkSessionInput {
  return {
    linkToken,
    expiration: new Date(Date.now() + 4 * 3600_000).toISOString(),
    userId: 'usr_fixture',
    clientUserId: 'client-user-1',
    products: ['transactions'],
    payment: null,
    timing: DEFAULT_TIMING,
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

function itemAddResult(linkToken: string, publicToken = `public-sandbox-${randomUUID()}`) {
  return {
    webhook_type: 'LINK',
    webhook_code: 'ITEM_ADD_RESULT',
    link_session_id: 'lsid-1',
    link_token: linkToken,
    public_token: publicToken,
    environment: 'sandbox',
  };
}

describe('POST /webhooks/plaid', () => {
  let t: TemporalTestContext;
  let plaid: FakePlaid;
  beforeAll(async () => {
    t = await connectToTestServer();
    plaid = await startFakePlaid();
  });
  afterAll(async () => {
    await plaid?.close();
    await t?.close();
  });

  async function startFixture(
    taskQueue: string,
    linkToken = newLinkToken(),
    overrides: Partial<LinkSessionInput> = {},
  ) {
    const handle = await t.client.workflow.start(linkSessionWorkflow, {
      taskQueue,
      workflowId: linkSessionWorkflowId(linkToken),
      args: [inputFor(linkToken, overrides)],
    });
    return { linkToken, handle };
  }

  async function post(
    h: Harness,
    body: string | Uint8Array,
    header?: string | null,
    extra: Record<string, string> = {},
  ) {
    const signature = header === undefined ? await plaid.sign(body) : header;
    return h.app.request('/webhooks/plaid', {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...(signature !== null && { 'plaid-verification': signature }),
        ...extra,
      },
    });
  }

  describe('a corpus of bad webhooks: each refused with the right status, nothing signalled', () => {
    const taskQueue = uniqueTaskQueue('api-webhook-corpus');
    let h: Harness;
    let linkToken: string;
    let valid: string;
    const now = () => Math.floor(Date.now() / 1000);
    const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

    type Case = {
      name: string;
      status: number;
      make: () => Promise<{ body: string | Uint8Array; header: string | null }>;
    };
    const corpus: Case[] = [
      {
        name: 'missing Plaid-Verification header',
        status: 401,
        make: async () => ({ body: valid, header: null }),
      },
      { name: 'malformed JWT', status: 401, make: async () => ({ body: valid, header: 'not-a.jwt' }) },
      {
        name: 'alg: none',
        status: 401,
        make: async () => ({
          body: valid,
          header: `${b64url({ alg: 'none', kid: plaid.current.kid })}.${b64url({ iat: now(), request_body_sha256: sha256Hex(valid) })}.`,
        }),
      },
      {
        name: 'HS256 signed with the public key bytes as secret',
        status: 401,
        make: async () => ({
          body: valid,
          header: await new SignJWT({ request_body_sha256: sha256Hex(valid) })
            .setProtectedHeader({ alg: 'HS256', kid: plaid.current.kid, typ: 'JWT' })
            .setIssuedAt(now())
            .sign(new TextEncoder().encode(JSON.stringify(plaid.current.publicJwk))),
        }),
      },
      {
        name: 'unknown kid',
        status: 401,
        make: async () => {
          const stranger = await plaid.addKey({ serve: false });
          return {
            body: valid,
            header: await plaid.sign(valid, { kid: stranger.kid, key: stranger.privateKey }),
          };
        },
      },
      {
        name: 'expired key (expired_at in the past)',
        status: 401,
        make: async () => {
          const old = await plaid.addKey({ expiredAt: now() - 60 });
          return { body: valid, header: await plaid.sign(valid, { kid: old.kid }) };
        },
      },
      {
        name: 'iat 6 minutes old',
        status: 401,
        make: async () => ({ body: valid, header: await plaid.sign(valid, { iat: now() - 360 }) }),
      },
      {
        name: 'iat 10 minutes in the future',
        status: 401,
        make: async () => ({ body: valid, header: await plaid.sign(valid, { iat: now() + 600 }) }),
      },
      {
        name: 'body changed by one byte',
        status: 401,
        make: async () => ({ body: valid.replace('"lsid-1"', '"lsid-2"'), header: await plaid.sign(valid) }),
      },
      {
        name: 'body re-indented (same JSON, different bytes)',
        status: 401,
        make: async () => ({ body: JSON.stringify(JSON.parse(valid)), header: await plaid.sign(valid) }),
      },
      {
        name: 'valid JWT for another body',
        status: 401,
        make: async () => {
          const other = pretty(itemAddResult(linkToken));
          return { body: valid, header: await plaid.sign(other) };
        },
      },
      {
        name: 'oversized body (70 KiB), validly signed',
        status: 413,
        make: async () => {
          const big = pretty({ ...itemAddResult(linkToken), padding: 'x'.repeat(70 * 1024) });
          return { body: big, header: await plaid.sign(big) };
        },
      },
      {
        name: 'invalid JSON with a valid signature',
        status: 400,
        make: async () => {
          const broken = valid.slice(0, -3);
          return { body: broken, header: await plaid.sign(broken) };
        },
      },
      {
        name: 'valid signature, ITEM_ADD_RESULT without public_token',
        status: 400,
        make: async () => {
          const { public_token: _omitted, ...rest } = itemAddResult(linkToken);
          const body = pretty(rest);
          return { body, header: await plaid.sign(body) };
        },
      },
      {
        name: 'valid signature, SESSION_FINISHED with an unknown status',
        status: 400,
        make: async () => {
          const body = pretty({
            webhook_type: 'LINK',
            webhook_code: 'SESSION_FINISHED',
            status: 'MAYBE',
            link_token: linkToken,
            link_session_id: 'lsid-1',
            public_tokens: [],
          });
          return { body, header: await plaid.sign(body) };
        },
      },
      {
        name: 'valid signature, not UTF-8',
        status: 400,
        make: async () => {
          const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
          return { body: bytes, header: await plaid.sign(bytes) };
        },
      },
    ];

    beforeAll(async () => {
      h = createHarness({ t, plaid, taskQueue });
      ({ linkToken } = await startFixture(taskQueue));
      valid = pretty(itemAddResult(linkToken, 'public-sandbox-corpus-secret'));
    });

    it(`has ${corpus.length} cases`, () => {
      expect(corpus.length).toBe(16);
    });

    it.each(corpus.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const { body, header } = await c.make();
      const res = await post(h, body, header);
      expect(res.status).toBe(c.status);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toEqual(expect.any(String));
      expect(json.error.message).toEqual(expect.any(String));
    });

    it('signalled nothing: the fixture workflow counted zero signals; a genuine webhook then counts one', async () => {
      await withFixtureWorker(t, taskQueue, async () => {
        const handle = t.client.workflow.getHandle(linkSessionWorkflowId(linkToken));
        expect(await handle.query(signalCountQuery)).toBe(0);
        const res = await post(h, valid);
        expect(res.status).toBe(200);
        expect(await handle.query(signalCountQuery)).toBe(1);
      });
      const metrics = await h.registry.metrics();
      expect(metrics).toMatch(/linkflow_webhook_verification_failures_total\{reason="stale"\} 1/);
      expect(metrics).toMatch(/linkflow_webhook_verification_failures_total\{reason="unsupported_alg"\} 2/);
      expect(metrics).toMatch(/linkflow_webhook_verification_failures_total\{reason="body_mismatch"\} 3/);
      expect(metrics).toMatch(
        /linkflow_webhooks_total\{webhook_code="ITEM_ADD_RESULT",outcome="delivered"\} 1/,
      );
    });
  });

  it('delivers ITEM_ADD_RESULT and SESSION_FINISHED (lower-case status normalised) as signals, answering 200 after the signal', async () => {
    const taskQueue = uniqueTaskQueue('api-webhook-deliver');
    const fixed = new Date(Math.floor(Date.now() / 1000) * 1000);
    const h = createHarness({ t, plaid, taskQueue, clock: { now: () => fixed } });
    const { linkToken, handle } = await startFixture(taskQueue);
    await withFixtureWorker(t, taskQueue, async () => {
      const first = await post(h, pretty(itemAddResult(linkToken, 'public-sandbox-a')));
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ received: true, outcome: 'delivered' });
      const finished = pretty({
        webhook_type: 'LINK',
        webhook_code: 'SESSION_FINISHED',
        status: 'success',
        link_session_id: 'lsid-1',
        link_token: linkToken,
        public_token: 'public-sandbox-a',
        public_tokens: ['public-sandbox-a', 'public-sandbox-b'],
        environment: 'sandbox',
      });
      expect((await post(h, finished)).status).toBe(200);
      expect(await handle.query(receivedSignalsQuery)).toEqual([
        {
          name: 'itemAddResult',
          payload: {
            public_token: 'public-sandbox-a',
            link_session_id: 'lsid-1',
            received_at: fixed.toISOString(),
          },
        },
        {
          name: 'sessionFinished',
          payload: {
            status: 'SUCCESS',
            link_session_id: 'lsid-1',
            public_tokens: ['public-sandbox-a', 'public-sandbox-b'],
            received_at: fixed.toISOString(),
          },
        },
      ]);
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('forwards each duplicate delivery once (the workflow dedupes); nothing else changes', async () => {
    const taskQueue = uniqueTaskQueue('api-webhook-dupes');
    const h = createHarness({ t, plaid, taskQueue });
    const { linkToken, handle } = await startFixture(taskQueue);
    const body = pretty(itemAddResult(linkToken, 'public-sandbox-dup'));
    const header = await plaid.sign(body);
    const statuses = await Promise.all([1, 2, 3].map(() => post(h, body, header).then((r) => r.status)));
    expect(statuses).toEqual([200, 200, 200]);
    await withFixtureWorker(t, taskQueue, async () => {
      const signals = await handle.query(receivedSignalsQuery);
      expect(signals).toHaveLength(3);
      expect(new Set(signals.map((s) => JSON.stringify({ ...s.payload, received_at: null }))).size).toBe(1);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    });
  });

  it('answers 200 for an unknown session and starts no workflow', async () => {
    const h = createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-webhook-unknown') });
    const linkToken = newLinkToken();
    const res = await post(h, pretty(itemAddResult(linkToken)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: 'unknown_session' });
    await expect(
      t.client.workflow.getHandle(linkSessionWorkflowId(linkToken)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
    // A token of another shape never reaches Temporal.
    const odd = await post(h, pretty(itemAddResult('link-made-up')));
    expect(odd.status).toBe(200);
    expect(h.logs.some((l) => l.includes('"outcome":"unknown_session"'))).toBe(true);
  });

  it('answers 200 for a finished session, signals nothing and starts no new run', async () => {
    const taskQueue = uniqueTaskQueue('api-webhook-finished');
    const h = createHarness({ t, plaid, taskQueue });
    const { linkToken, handle } = await startFixture(taskQueue);
    await withFixtureWorker(t, taskQueue, async () => {
      await handle.signal(finishSignal);
      await handle.result();
    });
    const runId = (await handle.describe()).runId;
    const res = await post(h, pretty(itemAddResult(linkToken)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: 'unknown_session' });
    const after = await t.client.workflow.getHandle(linkSessionWorkflowId(linkToken)).describe();
    expect(after.runId).toBe(runId);
    expect(after.status.name).toBe('COMPLETED');
  });

  it('ignores other webhook types and codes with 200 and a log line', async () => {
    const h = createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-webhook-other') });
    for (const body of [
      { webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: 'item-1' },
      { webhook_type: 'LINK', webhook_code: 'EVENTS', link_token: newLinkToken(), events: [] },
      {
        webhook_type: 'ITEM',
        webhook_code: 'ERROR',
        item_id: 'item-1',
        error: { error_code: 'ITEM_LOGIN_REQUIRED' },
      },
    ]) {
      const res = await post(h, pretty(body));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ received: true, outcome: 'ignored' });
    }
    expect(h.logs.filter((l) => l.includes('"outcome":"ignored"'))).toHaveLength(3);
  });

  it('never logs public tokens or the signature', async () => {
    const h = createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-webhook-redact') });
    const secret = `public-sandbox-${randomUUID()}`;
    const bodies = [
      itemAddResult(newLinkToken(), secret),
      {
        webhook_type: 'LINK',
        webhook_code: 'SESSION_FINISHED',
        status: 'SUCCESS',
        link_token: 'link-x',
        public_tokens: [secret],
      },
      {
        webhook_type: 'LINK',
        webhook_code: 'SOMETHING_NEW',
        public_token: secret,
        nested: { public_token: secret },
      },
    ];
    let header = '';
    for (const body of bodies) {
      const raw = pretty(body);
      header = await plaid.sign(raw);
      expect((await post(h, raw, header)).status).toBe(200);
    }
    const logged = h.logs.join('\n');
    expect(logged).toContain('SOMETHING_NEW');
    expect(logged).toContain('[redacted]');
    expect(logged).not.toContain(secret);
    expect(logged).not.toContain(header);
  });

  it('answers 503 when Temporal is unreachable, so Plaid retries', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1' });
    const client = new Client({ connection, namespace: t.namespace });
    try {
      const h = createHarness({
        t,
        plaid,
        taskQueue: uniqueTaskQueue('api-webhook-outage'),
        client,
        config: { temporalTimeoutMs: 300 },
      });
      const started = Date.now();
      const res = await post(h, pretty(itemAddResult(newLinkToken())));
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TEMPORAL_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await h.registry.metrics()).toMatch(/outcome="temporal_unavailable"\} 1/);
    } finally {
      await connection.close();
    }
  });

  it('answers 503 when Plaid cannot be asked for the key, 401 when Plaid says there is no such key', async () => {
    const h = createHarness({
      t,
      plaid,
      taskQueue: uniqueTaskQueue('api-webhook-keyfail'),
      webhookKeys: async () => {
        throw new Error('ECONNRESET');
      },
    });
    expect((await post(h, pretty(itemAddResult(newLinkToken())))).status).toBe(503);
    const fresh = await plaid.addKey();
    plaid.fail('/webhook_verification_key/get', {
      status: 500,
      error_type: 'API_ERROR',
      error_code: 'INTERNAL_SERVER_ERROR',
    });
    const viaPlaid = createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-webhook-keyfail2') });
    const body = pretty(itemAddResult(newLinkToken()));
    expect((await post(viaPlaid, body, await plaid.sign(body, { kid: fresh.kid }))).status).toBe(503);
    // Not cached: the next delivery fetches again and succeeds.
    expect((await post(viaPlaid, body, await plaid.sign(body, { kid: fresh.kid }))).status).toBe(200);
  });

  it('skips verification when PLAID_VERIFY_WEBHOOKS=false, and says so loudly', async () => {
    const taskQueue = uniqueTaskQueue('api-webhook-noverify');
    const h = createHarness({ t, plaid, taskQueue, config: { verifyWebhooks: false } });
    expect(h.logs.some((l) => l.includes('"level":40') && l.includes('NOT verified'))).toBe(true);
    const { linkToken, handle } = await startFixture(taskQueue);
    expect((await post(h, pretty(itemAddResult(linkToken)), null)).status).toBe(200);
    await withFixtureWorker(t, taskQueue, async () => {
      expect(await handle.query(signalCountQuery)).toBe(1);
    });
  });
});
