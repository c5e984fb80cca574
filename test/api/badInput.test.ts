/**
 * A bad-input corpus for the session routes, through `app.request()` with the real item store
 * (PostgreSQL when the throwaway server runs, PGlite otherwise) as the repository, a fake Plaid
 * and the real dev server's client wrapped to record every Temporal call.
 *
 * Each hostile or malformed request must be answered 4xx with a JSON `{ error: { code, message } }`
 * whose message names the problem, and must leave no trace: no Plaid user or link token, no row in
 * the store, no Temporal call (so no workflow).
 *
 * Some values are legitimate and are accepted instead: `client_user_id` is the customer's own
 * opaque id for their user, so quotes, SQL or template syntax, markup, emoji, zero-width and
 * bidi characters are stored verbatim (parameterised SQL makes them harmless; views are JSON,
 * never HTML), and must come back byte for byte.
 */
import type { Client } from '@temporalio/client';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app';
import { createKeyring, generateKeyBase64 } from '../../src/crypto';
import { createLogger } from '../../src/observability/logger';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../../src/store';
import { linkSessionWorkflowId } from '../../src/workflows/definitions';
import { DEFAULT_TIMING } from '../../src/workflows/types';
import { createPostgresSchema } from '../helpers/linkflowStack';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, toyCodec } from './helpers/harness';

interface ErrorJson {
  error: { code: string; message: string; field?: string };
}

const VALID_ID = 'link-sandbox-00000000-0000-4000-8000-000000000000';

let t: TemporalTestContext;
let plaid: FakePlaid;
let db: Db;
let store: ItemStore;
let pg: Awaited<ReturnType<typeof createPostgresSchema>> | null = null;
const temporalCalls: string[] = [];
const started: string[] = [];
let app: ReturnType<typeof createApp>;

/** The client, with every workflow-client call recorded. */
function recording(client: Client): Client {
  const workflow = new Proxy(client.workflow, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        temporalCalls.push(String(prop));
        return value.apply(target, args);
      };
    },
  });
  return new Proxy(client, {
    get: (target, prop, receiver) => (prop === 'workflow' ? workflow : Reflect.get(target, prop, receiver)),
  });
}

beforeAll(async () => {
  t = await connectToTestServer();
  plaid = await startFakePlaid();
  const databaseUrl = process.env.TEST_DATABASE_URL;
  pg = databaseUrl ? await createPostgresSchema(databaseUrl, 'linkflow_badinput') : null;
  db = await openDatabase(pg ? { databaseUrl: pg.url } : {});
  store = createItemStore(db, createKeyring(generateKeyBase64()));
  app = createApp({
    temporal: {
      client: recording(t.client),
      namespace: t.namespace,
      taskQueue: uniqueTaskQueue('bad-input'),
    },
    plaid: plaid.plaid,
    sessions: store,
    config: {
      apiKey: API_KEY,
      webhookUrl: 'http://127.0.0.1:3000/webhooks/plaid',
      verifyWebhooks: true,
      uiOrigins: [],
      keylessDemo: false,
      timing: DEFAULT_TIMING,
    },
    logger: createLogger({ level: 'silent' }),
    codec: toyCodec,
    metrics: new Registry(),
  });
});

afterAll(async () => {
  // Accepted sessions started workflows no worker runs: end them.
  for (const linkToken of started) {
    await t.client.workflow
      .getHandle(linkSessionWorkflowId(linkToken))
      .terminate('bad-input corpus done')
      .catch(() => undefined);
  }
  await db?.close();
  await pg?.dispose();
  await plaid?.close();
  await t?.close();
});

async function traces() {
  const [rows] = await db.query<{ users: number; sessions: number }>(
    'SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM link_sessions)::int AS sessions',
  );
  if (!rows) throw new Error('no counts');
  return {
    rows,
    plaid: plaid.calls.filter((c) => c.path === '/user/create' || c.path === '/link/token/create').length,
    temporal: temporalCalls.length,
  };
}

const authed = (init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { authorization: `Bearer ${API_KEY}`, ...(init.headers as Record<string, string>) },
});

function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  return app.request(
    path,
    authed({ method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } }),
  );
}

/** POST /link/sessions; a session it created anyway is remembered, so its workflow is ended. */
async function postKeepingTrack(body: string | Uint8Array): Promise<Response> {
  const res = await post('/link/sessions', body);
  if (res.status === 201) started.push(((await res.clone().json()) as { link_token: string }).link_token);
  return res;
}

/** A refused request: 4xx, JSON error naming the problem, and no trace anywhere. */
async function expectRefused(res: Response, opts: { status?: number; field?: string; code?: string } = {}) {
  const text = await res.text();
  const where = `${res.status} ${text.slice(0, 300)}`;
  expect(res.status, where).toBeGreaterThanOrEqual(400);
  expect(res.status, where).toBeLessThan(500);
  if (opts.status) expect(res.status, where).toBe(opts.status);
  expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
  const json = JSON.parse(text) as ErrorJson;
  expect(json.error.code, where).toMatch(/^[A-Z_0-9]+$/);
  expect(json.error.message.length, where).toBeGreaterThan(5);
  // A clear message, not an internal one.
  expect(json.error.message, where).not.toMatch(/\bat .*\.(ts|js):\d+|TypeError|\[object Object\]/);
  if (opts.code) expect(json.error.code, where).toBe(opts.code);
  if (opts.field) {
    expect(json.error.field, where).toBe(opts.field);
    expect(json.error.message, where).toContain(opts.field);
  }
  return json;
}

const s = (v: unknown) => JSON.stringify(v);
const u = (extra: Record<string, unknown>) => s({ client_user_id: 'corpus-user', ...extra });
const transfer = (over: Record<string, unknown>) =>
  u({
    payment: {
      product: 'transfer',
      amount: '10.00',
      type: 'debit',
      network: 'ach',
      legal_name: 'A B',
      ...over,
    },
  });

/** [name, raw body, expected field (400 VALIDATION_ERROR) or expected status/code]. */
type Case = [string, string | Uint8Array, { field?: string; status?: number; code?: string }];

const WRONG_TYPES: Case[] = [
  ['client_user_id a number', s({ client_user_id: 123 }), { field: 'client_user_id' }],
  ['client_user_id null', s({ client_user_id: null }), { field: 'client_user_id' }],
  ['client_user_id an array', s({ client_user_id: ['a'] }), { field: 'client_user_id' }],
  ['client_user_id an object', s({ client_user_id: { toString: 'x' } }), { field: 'client_user_id' }],
  ['client_user_id a boolean', s({ client_user_id: true }), { field: 'client_user_id' }],
  ['client_user_id empty', s({ client_user_id: '' }), { field: 'client_user_id' }],
  ['client_user_id 129 characters', s({ client_user_id: 'x'.repeat(129) }), { field: 'client_user_id' }],
  ['products a string', u({ products: 'auth' }), { field: 'products' }],
  ['products of numbers', u({ products: [1] }), { field: 'products.0' }],
  ['products empty', u({ products: [] }), { field: 'products' }],
  ['products an object', u({ products: { 0: 'auth', length: 1 } }), { field: 'products' }],
  ['country_codes a string', u({ country_codes: 'US' }), { field: 'country_codes' }],
  ['country_codes unknown', u({ country_codes: ['XX'] }), { field: 'country_codes.0' }],
  ['language unknown', u({ language: 'tlh' }), { field: 'language' }],
  ['language a number', u({ language: 1 }), { field: 'language' }],
  ['client_name too long', u({ client_name: 'x'.repeat(31) }), { field: 'client_name' }],
  ['redirect_uri javascript:', u({ redirect_uri: 'javascript:alert(1)' }), { field: 'redirect_uri' }],
  ['redirect_uri ftp:', u({ redirect_uri: 'ftp://example.com/cb' }), { field: 'redirect_uri' }],
  ['redirect_uri data:', u({ redirect_uri: 'data:text/html,<script>1</script>' }), { field: 'redirect_uri' }],
  ['payment a string', u({ payment: 'auth' }), { field: 'payment' }],
  ['payment an array', u({ payment: [{ product: 'auth' }] }), { field: 'payment' }],
  ['payment product unknown', u({ payment: { product: 'wire' } }), { field: 'payment.product' }],
  ['processor without a name', u({ payment: { product: 'processor' } }), { field: 'payment.processor' }],
  [
    'processor name a number',
    u({ payment: { product: 'processor', processor: 7 } }),
    { field: 'payment.processor' },
  ],
  ['transfer amount a number', transfer({ amount: 12.34 }), { field: 'payment.amount' }],
  ['transfer amount zero', transfer({ amount: '0.00' }), { field: 'payment.amount' }],
  ['transfer amount negative', transfer({ amount: '-1.00' }), { field: 'payment.amount' }],
  ['transfer amount exponent', transfer({ amount: '1e3' }), { field: 'payment.amount' }],
  ['transfer amount three decimals', transfer({ amount: '12.345' }), { field: 'payment.amount' }],
  ['transfer amount with a comma', transfer({ amount: '1,000.00' }), { field: 'payment.amount' }],
  ['transfer amount of ten digits', transfer({ amount: '9999999999.00' }), { field: 'payment.amount' }],
  ['transfer type unknown', transfer({ type: 'withdraw' }), { field: 'payment.type' }],
  ['transfer network wire', transfer({ network: 'wire' }), { field: 'payment.network' }],
  ['transfer legal_name empty', transfer({ legal_name: '' }), { field: 'payment.legal_name' }],
];

const UNKNOWN_FIELDS: Case[] = [
  ['an unknown top-level field', u({ admin: true }), { field: 'admin' }],
  ['a webhook override', u({ webhook: 'http://attacker.example/hook' }), { field: 'webhook' }],
  ['a user_token', u({ user_token: 'user-sandbox-x' }), { field: 'user_token' }],
  ['an access_token', u({ access_token: 'access-sandbox-x' }), { field: 'access_token' }],
  [
    '__proto__ as a key',
    '{"client_user_id":"corpus-user","__proto__":{"admin":true}}',
    { field: '__proto__' },
  ],
  ['constructor as a key', u({ constructor: { prototype: { admin: true } } }), { field: 'constructor' }],
  [
    'processor on an auth choice',
    u({ payment: { product: 'auth', processor: 'dwolla' } }),
    { field: 'payment.processor' },
  ],
  ['3000 unknown keys', s(Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]))), {}],
];

const NOT_A_REQUEST: Case[] = [
  ['an array body', '[]', { field: 'body' }],
  ['a string body', '"client_user_id"', { field: 'body' }],
  ['a number body', '42', { field: 'body' }],
  ['a null body', 'null', { field: 'body' }],
  ['an empty body', '', { code: 'INVALID_JSON' }],
  ['truncated JSON', '{"client_user_id":', { code: 'INVALID_JSON' }],
  ['a trailing comma', '{"client_user_id":"u",}', { code: 'INVALID_JSON' }],
  ['NaN', '{"client_user_id":"u","products":NaN}', { code: 'INVALID_JSON' }],
  ['single quotes', "{'client_user_id':'u'}", { code: 'INVALID_JSON' }],
  [
    'a duplicated key whose last value is wrong',
    '{"client_user_id":"u","client_user_id":5}',
    { field: 'client_user_id' },
  ],
  ['nesting 20,000 deep', u({}).replace('}', `,"payment":${'['.repeat(20_000)}${']'.repeat(20_000)}}`), {}],
];

const HUGE: Case[] = [
  [
    '100k products',
    u({ products: Array.from({ length: 100_000 }, () => 'auth') }),
    { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  ],
  [
    'a 1 MB client_user_id',
    s({ client_user_id: 'x'.repeat(1_000_000) }),
    { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  ],
  [
    '3000 products within the size limit',
    u({ products: Array.from({ length: 3000 }, () => 'auth') }),
    { field: 'products' },
  ],
  [
    '21 country codes',
    u({ country_codes: Array.from({ length: 21 }, () => 'US') }),
    { field: 'country_codes' },
  ],
];

const CONTROL_CHARACTERS: Case[] = [
  ['NUL', s({ client_user_id: 'a\u0000b' }), { field: 'client_user_id' }],
  ['a newline (log forging)', s({ client_user_id: 'a\n{"level":"error"}' }), { field: 'client_user_id' }],
  ['a carriage return', s({ client_user_id: 'a\rb' }), { field: 'client_user_id' }],
  ['a tab', s({ client_user_id: 'a\tb' }), { field: 'client_user_id' }],
  [
    'an escape sequence (terminal injection)',
    s({ client_user_id: '\u001b[31mred' }),
    { field: 'client_user_id' },
  ],
  ['DEL', s({ client_user_id: 'a\u007fb' }), { field: 'client_user_id' }],
  ['a C1 control (NEL)', s({ client_user_id: 'a\u0085b' }), { field: 'client_user_id' }],
  [
    'NUL in a processor name',
    u({ payment: { product: 'processor', processor: 'dwo\u0000lla' } }),
    { field: 'payment.processor' },
  ],
];

describe('bad input to POST /link/sessions: 4xx, a clear JSON error, nothing stored, nothing started', () => {
  const groups: Array<[string, Case[]]> = [
    ['wrong types', WRONG_TYPES],
    ['unknown fields', UNKNOWN_FIELDS],
    ['not a request', NOT_A_REQUEST],
    ['huge', HUGE],
    ['control characters', CONTROL_CHARACTERS],
  ];
  for (const [group, cases] of groups) {
    describe(group, () => {
      it.each(cases)('%s', async (_name, body, expected) => {
        const before = await traces();
        const json = await expectRefused(await post('/link/sessions', body), {
          ...(expected.field && { status: 400, code: 'VALIDATION_ERROR', field: expected.field }),
          ...(expected.status && { status: expected.status }),
          ...(expected.code && { code: expected.code }),
        });
        expect(json.error.code).toBeTruthy();
        expect(await traces()).toEqual(before);
      });
    });
  }

  it('a malformed Idempotency-Key is refused before anything happens', async () => {
    for (const key of ['has space', '', 'x'.repeat(256), 'clé', 'tab\tkey']) {
      const before = await traces();
      await expectRefused(await post('/link/sessions', u({}), { 'idempotency-key': key }), {
        status: 400,
        field: 'Idempotency-Key',
      });
      expect(await traces()).toEqual(before);
    }
  });

  // A lone UTF-16 surrogate would be stored as U+FFFD, so two different ids would collide.
  it('lone surrogates in client_user_id are refused (they cannot be stored faithfully)', async () => {
    for (const raw of ['{"client_user_id":"a\\ud800b"}', '{"client_user_id":"a\\udbffb"}']) {
      const before = await traces();
      await expectRefused(await postKeepingTrack(raw), { status: 400, field: 'client_user_id' });
      expect(await traces()).toEqual(before);
    }
  });

  // A lenient decode would turn bad bytes into U+FFFD and accept an id the caller never sent.
  it('a body that is not UTF-8 is refused', async () => {
    const before = await traces();
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"client_user_id":"u'),
      0xc3,
      0x28,
      0x22,
      0x7d,
    ]);
    await expectRefused(await postKeepingTrack(bytes), { status: 400 });
    expect(await traces()).toEqual(before);
  });
});

describe('bad ids and bodies on the session routes', () => {
  const ids = [
    '..%2f..%2fetc%2fpasswd',
    '%2e%2e%2f%2e%2e%2f',
    '%2e%2e',
    '..%5c..%5cwindows',
    `${VALID_ID}%2f..%2f..`,
    `${VALID_ID}%00`,
    `${VALID_ID}%0a`,
    'link-sandbox-%27%20OR%201%3D1%20--',
    '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    `link-sandbox-${'0'.repeat(10_000)}`,
    'link-sandbox-00000000-0000-4000-8000-00000000000G',
    '%F0%9F%A6%86',
    '%ED%A0%80',
  ];

  // SESSION_NOT_FOUND when the id reaches the route; NOT_FOUND when URL parsing already turned
  // an encoded dot-segment (%2e%2e) into `..` and the path normalised onto no route at all.
  it.each(ids)('GET /link/sessions/%s is 404 without asking Temporal', async (id) => {
    const before = await traces();
    const json = await expectRefused(await app.request(`/link/sessions/${id}`, authed()), { status: 404 });
    expect(['SESSION_NOT_FOUND', 'NOT_FOUND']).toContain(json.error.code);
    expect(await traces()).toEqual(before);
  });

  it.each(ids)('POST /link/sessions/%s/payment-account is 404 without asking Temporal', async (id) => {
    const before = await traces();
    const res = await post(`/link/sessions/${id}/payment-account`, s({ account_id: 'acc' }));
    const json = await expectRefused(res, { status: 404 });
    expect(['SESSION_NOT_FOUND', 'NOT_FOUND']).toContain(json.error.code);
    expect(await traces()).toEqual(before);
  });

  it('paths that normalise away (../) reach no session route and leak nothing', async () => {
    for (const path of [
      '/link/sessions/../../etc/passwd',
      '/link/sessions/./../sessions/..',
      '/link/../link/sessions/x/y/z',
    ]) {
      const before = await traces();
      const res = await app.request(path, authed());
      await expectRefused(res, { status: 404 });
      expect(await traces()).toEqual(before);
    }
  });

  const accountBodies: Case[] = [
    ['account_id a number', s({ account_id: 1 }), { field: 'account_id' }],
    ['account_id missing', s({}), { field: 'account_id' }],
    ['account_id empty', s({ account_id: '' }), { field: 'account_id' }],
    ['account_id 129 characters', s({ account_id: 'a'.repeat(129) }), { field: 'account_id' }],
    ['account_id with NUL', s({ account_id: 'acc\u0000' }), { field: 'account_id' }],
    ['an unknown field', s({ account_id: 'acc', item_id: 'x' }), { field: 'item_id' }],
    ['an array', s([{ account_id: 'acc' }]), { field: 'body' }],
    ['invalid JSON', '{"account_id":', { code: 'INVALID_JSON' }],
    ['100k account ids', s({ account_id: Array.from({ length: 100_000 }, () => 'acc') }), { status: 413 }],
  ];
  it.each(accountBodies)(
    'payment-account body with %s is refused before Temporal',
    async (_n, body, expected) => {
      const before = await traces();
      await expectRefused(await post(`/link/sessions/${VALID_ID}/payment-account`, body), {
        ...(expected.field && { status: 400, code: 'VALIDATION_ERROR', field: expected.field }),
        ...(expected.status && { status: expected.status }),
        ...(expected.code && { code: expected.code }),
      });
      expect(await traces()).toEqual(before);
    },
  );

  it('GET /link/sessions refuses a missing, empty, oversized or doubled-up query', async () => {
    for (const query of [
      '',
      '?client_user_id=',
      `?client_user_id=${'x'.repeat(129)}`,
      '?client_user_id=a&admin=1',
      '?client_user_id=a%00b',
    ]) {
      const before = await traces();
      await expectRefused(await app.request(`/link/sessions${query}`, authed()), { status: 400 });
      expect(await traces()).toEqual(before);
    }
  });

  it("an injection string in the list query is just an id: it matches nobody's sessions", async () => {
    for (const id of ["' OR 1=1 --", "' OR '1'='1", '%', '_', '*']) {
      const res = await app.request(`/link/sessions?client_user_id=${encodeURIComponent(id)}`, authed());
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ sessions: [] });
    }
  });
});

describe('legitimate but unusual client_user_id values are stored verbatim, harmlessly', () => {
  let rowsBefore: { users: number; sessions: number };
  beforeAll(async () => {
    rowsBefore = (await traces()).rows;
  });

  const accepted: Array<[string, string]> = [
    ['an apostrophe', "O'Brien"],
    ['SQL injection', "' OR 1=1 --"],
    ['a statement terminator', "x'); DROP TABLE users; --"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the point
    ['template syntax', '${process.env.LINKFLOW_API_KEY}{{7*7}}#{1}'],
    ['printf syntax', '%s%n%x'],
    ['markup', '<script>alert(1)</script>'],
    ['a path', '../../etc/passwd'],
    ['a backslash and quotes', 'a\\"b\'c`d'],
    ['emoji with ZWJ sequences', '🦆 family 👩‍👩‍👧 flag 🏳️‍🌈'],
    ['a zero-width space and joiner', 'us\u200Ber\u200D'],
    ['a right-to-left override', 'user\u202Egnp.exe'],
    ['a byte order mark', '\uFEFFuser'],
    ['Arabic and Hebrew', 'مستخدم-משתמש'],
    ['a non-character', 'user\uFFFF'],
    ['128 astral characters', '𝔘'.repeat(64)],
  ];

  it.each(accepted)('%s', async (_name, clientUserId) => {
    const before = await traces();
    const res = await post('/link/sessions', s({ client_user_id: clientUserId }));
    const text = await res.text();
    expect(res.status, text).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.parse(text) as { link_token: string };
    started.push(body.link_token);

    // Plaid was told exactly this id.
    const sent = plaid.calls.filter((c) => c.path === '/link/token/create').at(-1)?.body as {
      user?: { client_user_id?: string };
    };
    expect(sent.user?.client_user_id).toBe(clientUserId);
    // Stored byte for byte, found by the same value, and nothing else was touched.
    const user = await store.getUser(clientUserId);
    expect(user?.clientUserId).toBe(clientUserId);
    const [row] = await db.query<{ client_user_id: string }>(
      'SELECT client_user_id FROM link_sessions WHERE link_token = $1',
      [body.link_token],
    );
    expect(row?.client_user_id).toBe(clientUserId);
    expect(Buffer.from(row?.client_user_id ?? '').equals(Buffer.from(clientUserId))).toBe(true);
    expect((await store.listLinkSessions(clientUserId)).map((l) => l.linkToken)).toEqual([body.link_token]);
    const after = await traces();
    expect(after.rows).toEqual({ users: before.rows.users + 1, sessions: before.rows.sessions + 1 });
    expect(after.temporal).toBeGreaterThan(before.temporal);
    // Its workflow exists under the link token's id, whatever the user id looked like.
    const description = await t.client.workflow.getHandle(linkSessionWorkflowId(body.link_token)).describe();
    expect(description.type).toBe('linkSessionWorkflow');
  });

  it('after all of them, every table is intact and each id is still found exactly', async () => {
    expect((await traces()).rows).toEqual({
      users: rowsBefore.users + accepted.length,
      sessions: rowsBefore.sessions + accepted.length,
    });
    for (const [, clientUserId] of accepted) {
      expect((await store.listLinkSessions(clientUserId)).length, clientUserId).toBe(1);
    }
  });
});
