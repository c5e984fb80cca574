/**
 * Errors say what really happened (issue 16), checked on real failures, not hand-made objects:
 * Temporal refusing a workflow start for a search attribute the namespace does not have is a
 * configuration error (500, not retryable), not "Temporal unavailable"; Temporal unreachable is a
 * retryable 503; PostgreSQL refusing connections or killing a session is a retryable 503.
 */
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey } from '@temporalio/common';
import pg from 'pg';
import type { PlaidApi } from 'plaid';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { classifyUnexpectedError, isTemporalUnavailable } from '../../src/api/errors';
import { createLogger } from '../../src/observability/logger';
import { DEFAULT_TIMING } from '../../src/workflows/types';
import { freePort } from '../helpers/freePort';
import { API_KEY, toyCodec } from './helpers/harness';
import { createMemoryRepository } from './helpers/memoryRepository';

async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('classifyUnexpectedError on Temporal failures', () => {
  let connection: Connection;
  let client: Client;
  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection, namespace: inject('temporalNamespace') });
  });
  afterAll(async () => {
    await connection.close();
  });

  it('reports a start with an unregistered search attribute as a configuration error, not unavailable', async () => {
    const err = await failure(() =>
      client.workflow.start('linkSession', {
        taskQueue: 'nobody-polls-this',
        workflowId: `unregistered-search-attribute-${Date.now()}`,
        typedSearchAttributes: [
          { key: defineSearchAttributeKey('NeverRegisteredAttribute', 'KEYWORD'), value: 'x' },
        ],
      }),
    );
    expect(isTemporalUnavailable(err)).toBe(false);
    const classified = classifyUnexpectedError(err);
    expect(classified?.status).toBe(500);
    expect(classified?.code).toBe('TEMPORAL_CONFIGURATION_ERROR');
    expect(classified?.message).toMatch(/NeverRegisteredAttribute/);
    expect(classified?.extra.retryable).toBe(false);
  });

  it('reports an unknown namespace as a configuration error', async () => {
    const other = new Client({ connection, namespace: 'no-such-namespace' });
    const err = await failure(() =>
      other.workflow.start('linkSession', { taskQueue: 'q', workflowId: `no-namespace-${Date.now()}` }),
    );
    expect(classifyUnexpectedError(err)?.code).toBe('TEMPORAL_CONFIGURATION_ERROR');
  });

  it('reports an unreachable Temporal as a retryable 503', async () => {
    const port = await freePort();
    const lonely = Connection.lazy({ address: `127.0.0.1:${port}` });
    const unreachable = new Client({ connection: lonely });
    const err = await failure(() =>
      unreachable.withDeadline(Date.now() + 500, () => unreachable.workflowService.getSystemInfo({})),
    );
    await lonely.close();
    expect(isTemporalUnavailable(err)).toBe(true);
    const classified = classifyUnexpectedError(err);
    expect(classified?.status).toBe(503);
    expect(classified?.code).toBe('TEMPORAL_UNAVAILABLE');
    expect(classified?.extra.retryable).toBe(true);
  });
});

describe('classifyUnexpectedError on PostgreSQL failures', () => {
  it('reports a refused connection as a retryable 503 DATABASE_UNAVAILABLE', async () => {
    const port = await freePort();
    const pool = new pg.Pool({ connectionString: `postgres://x@127.0.0.1:${port}/x` });
    const err = await failure(() => pool.query('SELECT 1'));
    await pool.end();
    const classified = classifyUnexpectedError(err);
    expect(classified?.status).toBe(503);
    expect(classified?.code).toBe('DATABASE_UNAVAILABLE');
    expect(classified?.extra.retryable).toBe(true);
  });

  it.runIf(process.env.TEST_DATABASE_URL)(
    'reports a session the server terminated (restart, failover) as a retryable 503',
    async () => {
      const victim = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await victim.connect();
      await admin.connect();
      victim.on('error', () => undefined);
      try {
        const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const running = failure(() => victim.query('SELECT pg_sleep(30)'));
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
        const classified = classifyUnexpectedError(await running);
        expect(classified?.code).toBe('DATABASE_UNAVAILABLE');
      } finally {
        await admin.end();
        await victim.end().catch(() => undefined);
      }
    },
  );

  it('leaves a real bug (a bad query) unclassified: a 500 the logs explain', async () => {
    const pool = new pg.Pool({
      connectionString: process.env.TEST_DATABASE_URL ?? 'postgres://x@127.0.0.1:1/x',
    });
    const err = await failure(() => pool.query('SELECT * FROM no_such_table_at_all'));
    await pool.end();
    if (process.env.TEST_DATABASE_URL) expect(classifyUnexpectedError(err)).toBeUndefined();
    else expect(classifyUnexpectedError(err)?.code).toBe('DATABASE_UNAVAILABLE');
  });
});

describe('the API on a PostgreSQL blip', () => {
  it('answers POST /link/sessions with a retryable 503 DATABASE_UNAVAILABLE, not a 500', async () => {
    const port = await freePort();
    const pool = new pg.Pool({ connectionString: `postgres://x@127.0.0.1:${port}/x` });
    const repo = createMemoryRepository();
    // The store's first call for a new session fails as it would with PostgreSQL down.
    repo.getUser = async () => {
      await pool.query('SELECT 1');
      return null;
    };
    const connection = Connection.lazy({ address: inject('temporalAddress') });
    const logs: string[] = [];
    const app = createApp({
      temporal: { client: new Client({ connection }), namespace: 'default', taskQueue: 'unused' },
      plaid: {} as PlaidApi,
      sessions: repo,
      config: {
        apiKey: API_KEY,
        webhookUrl: 'http://127.0.0.1:3000/webhooks/plaid',
        verifyWebhooks: true,
        uiOrigins: [],
        keylessDemo: false,
        timing: DEFAULT_TIMING,
      },
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logs.push(line) } }),
      codec: toyCodec,
      metrics: new Registry(),
    });
    try {
      const res = await app.request('/link/sessions', {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client_user_id: 'blip-user' }),
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { code: string; retryable: boolean } };
      expect(body.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true });
      expect(logs.join('')).toMatch(/DATABASE_UNAVAILABLE/);
    } finally {
      await pool.end();
      await connection.close();
    }
  });
});
