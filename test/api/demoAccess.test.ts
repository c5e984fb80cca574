/**
 * Who may use `/demo`'s endpoints (issue 17, findings 2 and 3): key-less only in `npm start`'s
 * composition, and there only for a loopback peer naming a loopback Host, not through a proxy;
 * and a page acts only on the session it created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToTestServer, type TemporalTestContext, uniqueTaskQueue } from '../helpers/temporal';
import { ELIGIBLE_ACCOUNT_ID } from './fixtures/linkSessionWorkflow';
import { type FakePlaid, startFakePlaid } from './helpers/fakePlaid';
import { API_KEY, createHarness, type Harness, withFixtureWorker } from './helpers/harness';

/** What @hono/node-server passes as the app's env: the socket the request came in on. */
const peer = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });
const LOCAL = { host: '127.0.0.1:3000', 'x-linkflow-demo': '1', 'content-type': 'application/json' };
let users = 0;

describe('/demo access', () => {
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

  const harness = (keylessDemo: boolean) =>
    createHarness({ t, plaid, taskQueue: uniqueTaskQueue('api-demo'), config: { keylessDemo } });
  const create = (h: Harness, headers: Record<string, string>, env?: object) =>
    h.app.request(
      '/demo/api/sessions',
      {
        method: 'POST',
        headers,
        body: JSON.stringify({ client_user_id: `demo-user-${++users}`, payment: { product: 'auth' } }),
      },
      env,
    );

  it('is key-less only in npm start’s composition, for a loopback peer and Host, not forwarded', async () => {
    const keyless = harness(true);
    expect((await create(keyless, LOCAL, peer('127.0.0.1'))).status).toBe(201);
    expect((await create(keyless, LOCAL, peer('::ffff:127.0.0.1'))).status).toBe(201);
    expect((await create(keyless, LOCAL, peer('::1'))).status).toBe(201);
    const refused: Array<[string, Record<string, string>, object | undefined]> = [
      ['a non-loopback peer', LOCAL, peer('203.0.113.7')],
      ['a LAN peer', LOCAL, peer('10.0.0.5')],
      ['no socket at all', LOCAL, undefined],
      [
        'a non-loopback Host (DNS rebinding, a proxy passing Host on)',
        { ...LOCAL, host: 'linkflow.example' },
        peer('127.0.0.1'),
      ],
      ['a proxy’s X-Forwarded-For', { ...LOCAL, 'x-forwarded-for': '198.51.100.1' }, peer('127.0.0.1')],
      ['a proxy’s Forwarded', { ...LOCAL, forwarded: 'for=198.51.100.1' }, peer('127.0.0.1')],
    ];
    for (const [what, headers, env] of refused) {
      expect((await create(keyless, headers, env)).status, what).toBe(401);
    }
    // `npm run api` (and every other composition): never key-less, even all-loopback.
    expect((await create(harness(false), LOCAL, peer('127.0.0.1'))).status).toBe(401);
    expect(
      (await create(harness(false), { ...LOCAL, authorization: `Bearer ${API_KEY}` }, peer('127.0.0.1')))
        .status,
    ).toBe(201);
  });

  it('lets a page act only on the session it created: another session’s id is 403', async () => {
    const h = harness(true);
    const local = peer('127.0.0.1');
    const mine = (await (await create(h, LOCAL, local)).json()) as {
      session_id: string;
      demo_capability: string;
    };
    const theirs = (await (await create(h, LOCAL, local)).json()) as {
      session_id: string;
      demo_capability: string;
    };
    expect(mine.demo_capability).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mine.demo_capability).not.toBe(theirs.demo_capability);
    const as = (capability: string | null) => ({
      ...LOCAL,
      ...(capability !== null && { 'x-linkflow-demo-capability': capability }),
    });
    const path = (id: string, rest = '') => `/demo/api/sessions/${encodeURIComponent(id)}${rest}`;

    await withFixtureWorker(t, h.taskQueue, async () => {
      // Someone else's session, with my capability, someone's made-up one, or none.
      for (const capability of [mine.demo_capability, 'x'.repeat(43), null]) {
        const view = await h.app.request(path(theirs.session_id), { headers: as(capability) }, local);
        expect(view.status).toBe(403);
        expect(((await view.json()) as { error: { code: string } }).error.code).toBe(
          'NOT_THIS_PAGES_SESSION',
        );
        const choose = await h.app.request(
          path(theirs.session_id, '/payment-account'),
          {
            method: 'POST',
            headers: as(capability),
            body: JSON.stringify({ account_id: ELIGIBLE_ACCOUNT_ID }),
          },
          local,
        );
        expect(choose.status).toBe(403);
      }
      // My own session, with my capability.
      const view = await h.app.request(path(mine.session_id), { headers: as(mine.demo_capability) }, local);
      expect(view.status).toBe(200);
      expect(((await view.json()) as { session_id: string }).session_id).toBe(mine.session_id);
      // The API key may act on any session (as it may through /link/sessions).
      const operator = await h.app.request(
        path(theirs.session_id),
        { headers: { ...as(null), authorization: `Bearer ${API_KEY}` } },
        local,
      );
      expect(operator.status).toBe(200);
    });
  });
});
