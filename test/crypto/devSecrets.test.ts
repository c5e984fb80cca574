import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEV_SECRETS_FILE, loadOrCreateDevSecrets } from '../../src/config/devSecrets';
import { createKeyring } from '../../src/crypto';

describe('dev secrets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linkflow-secrets-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates the keys once, private to the owner, and reuses them later', async () => {
    const dataDir = join(dir, 'nested', '.data');
    const first = await loadOrCreateDevSecrets(dataDir);
    expect(first.created).toBe(true);
    expect(first.apiKey.length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(first.encryptionKey, 'base64')).toHaveLength(32);
    expect(() => createKeyring(first.encryptionKey)).not.toThrow();
    const file = join(dataDir, DEV_SECRETS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      apiKey: first.apiKey,
      encryptionKey: first.encryptionKey,
    });

    const again = await loadOrCreateDevSecrets(dataDir);
    expect(again).toMatchObject({ apiKey: first.apiKey, encryptionKey: first.encryptionKey, created: false });
    // No temporary files left behind.
    expect(await readdir(dataDir)).toEqual([DEV_SECRETS_FILE]);
  });

  it('hands every concurrent caller the same secrets, created exactly once', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevSecrets(dir)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.encryptionKey)).size).toBe(1);
    expect(new Set(results.map((r) => r.apiKey)).size).toBe(1);
    expect(await readdir(dir)).toEqual([DEV_SECRETS_FILE]);
  });

  it('refuses a damaged file rather than replacing the key that encrypted the data', async () => {
    const file = join(dir, DEV_SECRETS_FILE);
    await writeFile(file, '{"apiKey": "short"');
    await expect(loadOrCreateDevSecrets(dir)).rejects.toThrow(/not valid JSON/);
    await writeFile(file, JSON.stringify({ apiKey: 'x'.repeat(20), encryptionKey: 'dG9vIHNob3J0' }));
    await expect(loadOrCreateDevSecrets(dir)).rejects.toThrow(/32-byte key/);
    expect(await readFile(file, 'utf8')).toContain('dG9vIHNob3J0');
  });

  it('tightens the permissions of an existing file', async () => {
    const file = join(dir, DEV_SECRETS_FILE);
    const secrets = { apiKey: 'k'.repeat(24), encryptionKey: Buffer.alloc(32, 7).toString('base64') };
    await writeFile(file, JSON.stringify(secrets), { mode: 0o644 });
    expect(await loadOrCreateDevSecrets(dir)).toMatchObject({ ...secrets, created: false });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
