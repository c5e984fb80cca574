/**
 * How the cluster's binaries are found (src/temporal/serverBuild.ts), without building anything:
 * the env overrides and the cache first, and a clear error naming the way out when a binary is
 * missing and there is no Go toolchain to build it.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cachedServerBinaries,
  ensureServerBinaries,
  MissingBinaryError,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_UI_SERVER_VERSION,
} from '../../src/temporal/serverBuild';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linkflow-serverbuild-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function executable(path: string) {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, '#!/bin/sh\n');
  await chmod(path, 0o755);
  return path;
}

describe('ensureServerBinaries', () => {
  it('uses the pinned cache under XDG_CACHE_HOME/linkflow and the TEMPORAL_* overrides, building nothing', async () => {
    const cache = join(dir, 'cache');
    const server = await executable(
      join(cache, `linkflow/temporal-server-${TEMPORAL_SERVER_VERSION}/temporal-server`),
    );
    const sqlTool = await executable(join(dir, 'elsewhere/sql'));
    const uiServer = await executable(
      join(cache, `linkflow/temporal-ui-server-${TEMPORAL_UI_SERVER_VERSION}/temporal-ui-server`),
    );
    const env = { XDG_CACHE_HOME: cache, TEMPORAL_SQL_TOOL: sqlTool, PATH: '' };
    expect(await ensureServerBinaries({ env, log: () => undefined })).toEqual({ server, sqlTool, uiServer });
  });

  it('names the variable and the toolchain when a binary is missing and Go is not installed', async () => {
    const env = { XDG_CACHE_HOME: join(dir, 'empty-cache'), PATH: '' };
    expect(await cachedServerBinaries(env)).toEqual({});
    const err = await ensureServerBinaries({ env, log: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingBinaryError);
    expect((err as Error).message).toMatch(/no Go toolchain.*TEMPORAL_SERVER/);
  });

  it('refuses an override that is not an executable file', async () => {
    const env = { XDG_CACHE_HOME: join(dir, 'empty-cache'), PATH: '', TEMPORAL_SERVER: join(dir, 'nope') };
    await expect(ensureServerBinaries({ env, log: () => undefined })).rejects.toThrow(
      /TEMPORAL_SERVER=.*not an executable file/,
    );
  });
});
