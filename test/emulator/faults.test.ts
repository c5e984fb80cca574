/**
 * Fault modes, seen through the official client over HTTP: a lost response (the work is done, the
 * connection is reset), a late response (the client's timeout fires, the work is done), and a 429
 * with Retry-After.
 */
import type { AxiosError } from 'axios';
import type { PlaidApi } from 'plaid';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { completeLink, control, multiItemLinkToken, plaidFailure } from './helpers';

async function transportFailure(call: Promise<unknown>): Promise<AxiosError> {
  try {
    await call;
  } catch (err) {
    const e = err as AxiosError;
    expect(e.response).toBeUndefined();
    return e;
  }
  throw new Error('expected the call to fail without an answer');
}

describe('emulator: fault modes', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;

  beforeAll(async () => {
    started = await startEmulator({ port: 0, seed: 11 });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
  });

  afterAll(async () => {
    await started?.close();
  });

  beforeEach(() => {
    started.emulator.reset();
  });

  const publicTokens = async (clientUserId: string, institutions: string[]) => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId });
    return (await completeLink(started.url, { link_token: linkToken, institutions })).public_tokens;
  };

  it('lose_response: the exchange happens, the caller sees a connection reset, a retry finds the token used', async () => {
    const [token] = await publicTokens('lost', ['ins_109508']);
    const fault = await control(started.url, '/__emulator/faults', {
      path: '/item/public_token/exchange',
      mode: 'lose_response',
    });
    expect(fault.body).toMatchObject({ mode: 'lose_response', times: 1 });

    const lost = await transportFailure(plaid.itemPublicTokenExchange({ public_token: token as string }));
    expect(lost.code).toBe('ECONNRESET');
    expect(started.emulator.state().exchanges[token as string]).toBe(1);
    expect(started.emulator.state().faults_injected).toEqual({ '/item/public_token/exchange': 1 });

    const retry = await plaidFailure(plaid.itemPublicTokenExchange({ public_token: token as string }));
    expect(retry.body.error_code).toBe('INVALID_PUBLIC_TOKEN');
    expect(started.emulator.state().exchanges[token as string]).toBe(1);
  });

  it('lose_response works on any Plaid route, e.g. /link/token/get (nothing changes there)', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'lost-get' });
    await control(started.url, '/__emulator/faults', {
      path: '/link/token/get',
      mode: 'lose_response',
      times: 2,
    });
    for (let i = 0; i < 2; i++) {
      expect((await transportFailure(plaid.linkTokenGet({ link_token: linkToken }))).code).toBe('ECONNRESET');
    }
    expect((await plaid.linkTokenGet({ link_token: linkToken })).data.link_token).toBe(linkToken);
  });

  it('delay: the work is done at once, the answer comes after the client gave up', async () => {
    const [token] = await publicTokens('late', ['ins_109509']);
    await control(started.url, '/__emulator/faults', {
      path: '/item/public_token/exchange',
      mode: 'delay',
      delay_ms: 2_000,
    });
    const impatient = createPlaidClient({
      basePath: started.url,
      clientId: 'test',
      secret: 'test',
      timeoutMs: 200,
    });
    const timedOut = await transportFailure(
      impatient.itemPublicTokenExchange({ public_token: token as string }),
    );
    expect(timedOut.code).toBe('ECONNABORTED');
    expect(started.emulator.state().exchanges[token as string]).toBe(1);
  });

  it('delay within the client timeout: the answer arrives, late', async () => {
    const { linkToken } = await multiItemLinkToken(plaid, { clientUserId: 'slow-ok' });
    await control(started.url, '/__emulator/faults', {
      path: '/link/token/get',
      mode: 'delay',
      delay_ms: 300,
    });
    const t0 = Date.now();
    expect((await plaid.linkTokenGet({ link_token: linkToken })).data.link_token).toBe(linkToken);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('a 429 carries Retry-After, as Plaid rate limits do, and burns nothing', async () => {
    const [token] = await publicTokens('limited', ['ins_109508']);
    const fault = await control(started.url, '/__emulator/faults', {
      path: '/item/public_token/exchange',
      error_code: 'RATE_LIMIT',
      retry_after_s: 7,
    });
    expect(fault.body).toMatchObject({ mode: 'error', error_type: 'RATE_LIMIT_EXCEEDED', http_status: 429 });
    try {
      await plaid.itemPublicTokenExchange({ public_token: token as string });
      expect.unreachable('the exchange should have been rate limited');
    } catch (err) {
      const e = err as AxiosError<{ error_code: string; error_type: string }>;
      expect(e.response?.status).toBe(429);
      expect(e.response?.headers['retry-after']).toBe('7');
      expect(e.response?.data).toMatchObject({ error_type: 'RATE_LIMIT_EXCEEDED', error_code: 'RATE_LIMIT' });
    }
    expect((await plaid.itemPublicTokenExchange({ public_token: token as string })).status).toBe(200);
  });

  it('refuses fault requests that do not make sense', async () => {
    const bad = [
      { path: '/item/public_token/exchange' },
      { path: '/item/public_token/exchange', error_code: 'INVALID_FIELD', retry_after_s: 3 },
      { path: '/item/public_token/exchange', mode: 'delay' },
      { path: '/item/public_token/exchange', mode: 'lose_response', error_code: 'RATE_LIMIT' },
      { path: '/item/public_token/exchange', mode: 'error', error_code: 'RATE_LIMIT', delay_ms: 5 },
      { path: '/not/plaid', mode: 'lose_response' },
      { path: '/item/public_token/exchange', mode: 'explode' },
    ];
    for (const body of bad) {
      const res = await control(started.url, '/__emulator/faults', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect(started.emulator.state().faults_pending).toBeUndefined();
  });
});
