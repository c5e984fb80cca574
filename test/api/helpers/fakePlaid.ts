/**
 * A small stand-in for Plaid's HTTP API, served on a local port so the API under test talks to it
 * through the real `createPlaidClient` (axios, Plaid's error bodies): `/user/create`,
 * `/link/token/create` and `/webhook_verification_key/get` with jose-generated ES256 keys, plus a
 * signer producing `Plaid-Verification` headers the way Plaid does.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { PlaidApi } from 'plaid';
import { createPlaidClient } from '../../../src/plaid/client';

export interface FakeKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: { kty: string; crv: string; x: string; y: string };
  createdAt: number;
  expiredAt: number | null;
}

export interface PlaidCall {
  path: string;
  body: Record<string, unknown>;
}

export interface SignOptions {
  kid?: string;
  /** Unix seconds; defaults to now. */
  iat?: number;
  /** Signs a hash of these bytes instead of the body's. */
  hashOf?: string | Uint8Array;
  key?: CryptoKey;
}

export interface FakePlaid {
  url: string;
  plaid: PlaidApi;
  calls: PlaidCall[];
  keys: Map<string, FakeKey>;
  current: FakeKey;
  /** When true, /user/create answers with a legacy `user_token` too. */
  legacyUserTokens: boolean;
  addKey(opts?: { expiredAt?: number | null; serve?: boolean }): Promise<FakeKey>;
  /** The next `times` calls to `path` answer this Plaid error. */
  fail(path: string, error: { status: number; error_type: string; error_code: string; times?: number }): void;
  sign(body: string | Uint8Array, opts?: SignOptions): Promise<string>;
  callsTo(path: string): PlaidCall[];
  close(): Promise<void>;
}

export const sha256Hex = (body: string | Uint8Array) => createHash('sha256').update(body).digest('hex');

export async function startFakePlaid(): Promise<FakePlaid> {
  const calls: PlaidCall[] = [];
  const keys = new Map<string, FakeKey>();
  const faults = new Map<string, { status: number; error_type: string; error_code: string; times: number }>();
  const users = new Map<string, string>();

  async function makeKey(expiredAt: number | null): Promise<FakeKey> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    return {
      kid: randomUUID(),
      privateKey,
      publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string },
      createdAt: Math.floor(Date.now() / 1000) - 3600,
      expiredAt,
    };
  }

  const app = new Hono();
  app.use('*', async (c, next) => {
    const path = c.req.path;
    const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
    calls.push({ path, body });
    const fault = faults.get(path);
    if (fault && fault.times > 0) {
      fault.times--;
      return c.json(
        {
          error_type: fault.error_type,
          error_code: fault.error_code,
          error_message: `injected ${fault.error_code}`,
          display_message: null,
          request_id: randomUUID(),
        },
        fault.status as 400,
      );
    }
    await next();
  });
  app.post('/user/create', async (c) => {
    const { body } = calls[calls.length - 1] as PlaidCall;
    const clientUserId = String(body.client_user_id);
    const userId = users.get(clientUserId) ?? `usr_${randomUUID()}`;
    users.set(clientUserId, userId);
    return c.json({
      user_id: userId,
      ...(fake.legacyUserTokens && { user_token: `user-sandbox-${randomUUID()}` }),
      request_id: randomUUID(),
    });
  });
  app.post('/link/token/create', (c) =>
    c.json({
      link_token: `link-sandbox-${randomUUID()}`,
      expiration: new Date(Date.now() + 4 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      request_id: randomUUID(),
    }),
  );
  app.post('/webhook_verification_key/get', (c) => {
    const { body } = calls[calls.length - 1] as PlaidCall;
    const key = keys.get(String(body.key_id));
    if (!key) {
      return c.json(
        {
          error_type: 'INVALID_INPUT',
          error_code: 'INVALID_WEBHOOK_VERIFICATION_KEY_ID',
          error_message: 'invalid key_id provided',
          display_message: null,
          request_id: randomUUID(),
        },
        400,
      );
    }
    return c.json({
      key: {
        ...key.publicJwk,
        alg: 'ES256',
        use: 'sig',
        kid: key.kid,
        created_at: key.createdAt,
        expired_at: key.expiredAt,
      },
      request_id: randomUUID(),
    });
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const first = await makeKey(null);
  keys.set(first.kid, first);

  const fake: FakePlaid = {
    url,
    plaid: createPlaidClient({
      basePath: url,
      clientId: 'test-client',
      secret: 'test-secret',
      timeoutMs: 5000,
    }),
    calls,
    keys,
    current: first,
    legacyUserTokens: false,
    async addKey(opts = {}) {
      const key = await makeKey(opts.expiredAt ?? null);
      if (opts.serve !== false) keys.set(key.kid, key);
      return key;
    },
    fail(path, error) {
      faults.set(path, { ...error, times: error.times ?? 1 });
    },
    async sign(body, opts = {}) {
      const key = opts.kid ? keys.get(opts.kid) : fake.current;
      const privateKey = opts.key ?? key?.privateKey;
      if (!privateKey) throw new Error(`no key ${opts.kid}`);
      return new SignJWT({ request_body_sha256: sha256Hex(opts.hashOf ?? body) })
        .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? fake.current.kid, typ: 'JWT' })
        .setIssuedAt(opts.iat ?? Math.floor(Date.now() / 1000))
        .sign(privateKey);
    },
    callsTo: (path) => calls.filter((call) => call.path === path),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
  return fake;
}
