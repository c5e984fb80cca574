/**
 * The composition root shared by `npm start`, `npm run worker` and `npm run api`: configuration,
 * secrets, the item store, the Plaid client and the payload codec, built once from the environment.
 */
import { hkdfSync } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PayloadCodec } from '@temporalio/common';
import type { PlaidApi } from 'plaid';
import { loadOrCreateDevSecrets } from '../config/devSecrets';
import { ConfigError, type Env, plaidBaseUrl } from '../config/env';
import { createKeyring, type Keyring } from '../crypto';
import { createPlaidClient } from '../plaid/client';
import { createItemStore, type Db, type ItemStore, openDatabase } from '../store';
import { createEncryptionCodec } from '../temporal/codec';

export interface Services {
  env: Env;
  dataDir: string;
  apiKey: string;
  /** LINKFLOW_CODEC_TOKEN, else derived from the encryption key (stable across restarts). */
  codecToken: string;
  keyring: Keyring;
  codec: PayloadCodec;
  db: Db;
  store: ItemStore;
  plaid: PlaidApi;
  plaidBaseUrl: string;
  close(): Promise<void>;
}

export interface SecretsOptions {
  /** Generate missing dev secrets into the data dir (the embedded default); otherwise they are required. */
  allowDevSecrets: boolean;
}

export async function resolveSecrets(env: Env, dataDir: string, opts: SecretsOptions) {
  if (env.LINKFLOW_API_KEY && env.LINKFLOW_ENCRYPTION_KEY) {
    return { apiKey: env.LINKFLOW_API_KEY, encryptionKey: env.LINKFLOW_ENCRYPTION_KEY, generated: false };
  }
  if (!opts.allowDevSecrets) {
    const missing = [
      !env.LINKFLOW_API_KEY && 'LINKFLOW_API_KEY',
      !env.LINKFLOW_ENCRYPTION_KEY && 'LINKFLOW_ENCRYPTION_KEY',
    ]
      .filter(Boolean)
      .join(', ');
    throw new ConfigError(`Invalid configuration:\n  ${missing}: required outside the embedded default`);
  }
  const dev = await loadOrCreateDevSecrets(dataDir);
  return {
    apiKey: env.LINKFLOW_API_KEY ?? dev.apiKey,
    encryptionKey: env.LINKFLOW_ENCRYPTION_KEY ?? dev.encryptionKey,
    generated: dev.created,
  };
}

/** A codec credential only a holder of the encryption key can compute (the codec's own key decrypts anyway). */
function derivedCodecToken(keyring: Keyring): string {
  const key = keyring.keys.get(keyring.primaryKeyId) as Buffer;
  return `lfc_${Buffer.from(hkdfSync('sha256', key, 'linkflow', 'linkflow codec token v1', 24)).toString('base64url')}`;
}

export async function openServices(
  env: Env,
  opts: SecretsOptions & { databaseUrl?: string },
): Promise<Services> {
  const dataDir = resolve(env.LINKFLOW_DATA_DIR);
  // Only where something is written there (dev secrets, PGlite): `npm run api`/`worker` with
  // DATABASE_URL and the secrets set must start in a read-only image (issue 16: EACCES).
  if (opts.allowDevSecrets || !(opts.databaseUrl ?? env.DATABASE_URL))
    await mkdir(dataDir, { recursive: true });
  if (env.PLAID_ENV !== 'emulator' && !(env.PLAID_CLIENT_ID && env.PLAID_SECRET)) {
    throw new ConfigError(
      `Invalid configuration:\n  PLAID_CLIENT_ID, PLAID_SECRET: required when PLAID_ENV=${env.PLAID_ENV}`,
    );
  }
  const secrets = await resolveSecrets(env, dataDir, opts);
  const keyring = createKeyring(secrets.encryptionKey, env.LINKFLOW_PREVIOUS_ENCRYPTION_KEYS);
  const databaseUrl = opts.databaseUrl ?? env.DATABASE_URL;
  const db = await openDatabase(
    databaseUrl
      ? { databaseUrl, maxConnections: env.LINKFLOW_DATABASE_POOL_MAX }
      : { dataDir: join(dataDir, 'pglite') },
  );
  const baseUrl = plaidBaseUrl(env);
  const plaid = createPlaidClient({
    basePath: baseUrl,
    clientId: env.PLAID_CLIENT_ID ?? 'linkflow-dev',
    secret: env.PLAID_SECRET ?? 'linkflow-dev-secret',
  });
  return {
    env,
    dataDir,
    apiKey: secrets.apiKey,
    codecToken: env.LINKFLOW_CODEC_TOKEN ?? derivedCodecToken(keyring),
    keyring,
    codec: createEncryptionCodec(keyring),
    db,
    store: createItemStore(db, keyring),
    plaid,
    plaidBaseUrl: baseUrl,
    close: () => db.close(),
  };
}
