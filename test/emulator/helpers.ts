/**
 * Test helpers for the Plaid emulator: a tiny webhook receiver that keeps the raw bytes it was sent
 * and resolves promises as deliveries arrive, a webhook verifier that follows Plaid's documented
 * procedure step by step, and small wrappers around the control routes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { CountryCode, type LinkTokenCreateRequest, type PlaidApi, Products } from 'plaid';

/** JSON answers and webhook bodies, inspected field by field in tests. */
// biome-ignore lint/suspicious/noExplicitAny: the tests assert on shapes, which is the point
export type Json = any;

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: Json;
  status: number;
}

export interface Receiver {
  url: string;
  received: ReceivedWebhook[];
  /** Resolves once at least `count` deliveries arrived (whatever status was answered). */
  waitFor(count: number): Promise<ReceivedWebhook[]>;
  /** Decides the HTTP status of the n-th delivery (1-based). */
  setStatus(fn: (n: number, body: unknown) => number): void;
  /** Extra response headers for the n-th delivery (1-based), e.g. Retry-After. */
  setHeaders(fn: (n: number) => Record<string, string>): void;
  close(): Promise<void>;
}

export async function startReceiver(
  status: (n: number, body: unknown) => number = () => 200,
): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  const waiters: Array<{ count: number; resolve: (r: ReceivedWebhook[]) => void }> = [];
  let decide = status;
  let extraHeaders: (n: number) => Record<string, string> = () => ({});
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = JSON.parse(raw.toString('utf8'));
      const code = decide(received.length + 1, body);
      received.push({ headers: req.headers, raw, body, status: code });
      res.writeHead(code, { 'content-type': 'application/json', ...extraHeaders(received.length) }).end('{}');
      for (const w of [...waiters]) {
        if (received.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve([...received]);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/webhooks/plaid`,
    received,
    waitFor(count) {
      if (received.length >= count) return Promise.resolve([...received]);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    setStatus(fn) {
      decide = fn;
    },
    setHeaders(fn) {
      extraHeaders = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Plaid's webhook verification, as its docs tell integrators:
 *  1. decode the JWT header of `Plaid-Verification` without verifying; require alg ES256;
 *  2. fetch the key for its `kid` with /webhook_verification_key/get;
 *  3. verify the JWT with that key, rejecting tokens older than five minutes;
 *  4. compare the SHA-256 of the raw body with the `request_body_sha256` claim, in constant time.
 */
export async function verifyPlaidWebhook(
  plaid: PlaidApi,
  headers: IncomingHttpHeaders,
  raw: Buffer,
): Promise<boolean> {
  const jwt = headers['plaid-verification'];
  if (typeof jwt !== 'string') return false;
  const header = decodeProtectedHeader(jwt);
  if (header.alg !== 'ES256' || typeof header.kid !== 'string') return false;
  const { data } = await plaid.webhookVerificationKeyGet({ key_id: header.kid });
  const key = await importJWK({ ...data.key }, 'ES256');
  let claimed: unknown;
  try {
    const { payload } = await jwtVerify(jwt, key, { maxTokenAge: '5 min' });
    claimed = payload.request_body_sha256;
  } catch {
    return false;
  }
  if (typeof claimed !== 'string') return false;
  const actual = createHash('sha256').update(raw).digest('hex');
  const a = Buffer.from(actual, 'utf8');
  const b = Buffer.from(claimed, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function control(
  baseUrl: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: body === undefined && path.endsWith('/state') ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined && path.endsWith('/state') ? undefined : JSON.stringify(body ?? {}),
  });
  return { status: res.status, body: await res.json() };
}

export async function completeLink(baseUrl: string, body: Record<string, unknown>) {
  const res = await control(baseUrl, '/__emulator/link/complete', body);
  if (res.status !== 200) throw new Error(`link/complete failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as {
    link_session_id: string;
    public_tokens: string[];
    items: Array<{
      item_id: string;
      public_token: string;
      institution: { institution_id: string; name: string };
    }>;
  };
}

/** The Plaid error an official-client call failed with. */
export async function plaidFailure(call: Promise<unknown>): Promise<{ status: number; body: Json }> {
  try {
    await call;
  } catch (err) {
    const e = err as { response?: { status: number; data: unknown } };
    if (e.response) return { status: e.response.status, body: e.response.data };
    throw err;
  }
  throw new Error('expected the Plaid call to fail');
}

/** A new-API user and a Multi-Item link token for it. */
export async function multiItemLinkToken(
  plaid: PlaidApi,
  opts: { clientUserId: string; webhook?: string } & Partial<LinkTokenCreateRequest>,
) {
  const { clientUserId, webhook, ...rest } = opts;
  const user = (await plaid.userCreate({ client_user_id: clientUserId })).data;
  const token = (
    await plaid.linkTokenCreate({
      user: { client_user_id: clientUserId },
      user_id: user.user_id,
      client_name: 'linkflow tests',
      language: 'en',
      country_codes: [CountryCode.Us],
      products: [Products.Transactions],
      optional_products: [Products.Auth],
      enable_multi_item_link: true,
      ...(webhook ? { webhook } : {}),
      ...rest,
    })
  ).data;
  return { userId: user.user_id, linkToken: token.link_token, expiration: token.expiration };
}
