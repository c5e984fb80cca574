/**
 * Secrets for the embedded default: on first start a random API key and encryption key are
 * written to `<dataDir>/dev-secrets.json` (mode 0600) and reused on every later start, so the
 * encrypted columns and Temporal payloads written before a restart stay readable.
 *
 * The file is created atomically and never overwritten: it is written to a temporary file and
 * hard-linked into place, which fails if another process got there first — then that process's
 * secrets are read and used. A malformed file is an error, never silently replaced (replacing the
 * encryption key would make every stored access token unreadable).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyBase64, KEY_BYTES } from '../crypto/keyring';

export const DEV_SECRETS_FILE = 'dev-secrets.json';

export interface DevSecrets {
  apiKey: string;
  /** base64, 32 bytes */
  encryptionKey: string;
  /** True when this call generated them. */
  created: boolean;
  path: string;
}

function parse(text: string, path: string): { apiKey: string; encryptionKey: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; fix it or delete it (and the data encrypted with it)`);
  }
  const { apiKey, encryptionKey } = (data ?? {}) as Record<string, unknown>;
  if (typeof apiKey !== 'string' || apiKey.length < 16) {
    throw new Error(`${path}: "apiKey" must be a string of at least 16 characters`);
  }
  if (typeof encryptionKey !== 'string' || Buffer.from(encryptionKey, 'base64').length !== KEY_BYTES) {
    throw new Error(`${path}: "encryptionKey" must be a base64-encoded ${KEY_BYTES}-byte key`);
  }
  return { apiKey, encryptionKey };
}

async function readExisting(path: string): Promise<DevSecrets | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const secrets = parse(text, path);
  // Tighten permissions of a file copied in with looser ones.
  if (process.platform !== 'win32' && ((await stat(path)).mode & 0o077) !== 0) {
    await chmod(path, 0o600);
  }
  return { ...secrets, created: false, path };
}

/** Makes the new directory entry durable (best effort: not every platform can fsync a directory). */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignored
  }
}

export async function loadOrCreateDevSecrets(dataDir: string): Promise<DevSecrets> {
  const path = join(dataDir, DEV_SECRETS_FILE);
  const existing = await readExisting(path);
  if (existing) return existing;

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secrets = {
    apiKey: `lf_dev_${randomBytes(24).toString('base64url')}`,
    encryptionKey: generateKeyBase64(),
  };
  const tmp = join(dataDir, `.${DEV_SECRETS_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(secrets, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    try {
      await link(tmp, path); // atomic create-if-absent
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const winner = await readExisting(path);
        if (winner) return winner;
      }
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw err;
      // No hard links on this filesystem: fall back to rename (atomic, though it could replace
      // a file created in the instant since the check above).
      const raced = await readExisting(path);
      if (raced) return raced;
      await rename(tmp, path);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dataDir);
  return { ...secrets, created: true, path };
}
