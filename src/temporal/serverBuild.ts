/**
 * The production topology's Temporal binaries without Docker, provisioned like the CLI
 * (./cli.ts): the Temporal server and its SQL schema tool (one Go module, pinned), and the
 * standalone UI server (pinned), each built once from the Go module proxy into
 * `~/.cache/linkflow/…` and reused. `TEMPORAL_SERVER`, `TEMPORAL_SQL_TOOL` and
 * `TEMPORAL_UI_SERVER` point at existing binaries instead.
 *
 * Measured on this machine kind (2 shared cores, warm module cache): the server ~5 min, the SQL
 * tool ~1 min after it (shared packages), the UI server ~1 min; see README "Production topology
 * here".
 */
import { join } from 'node:path';
import { findOnPath, goInstall, isExecutable, linkflowCacheRoot } from './cli';

/** The server the CLI 1.5.1 embeds, so the dev server and the cluster run the same Temporal. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
/** The UI the CLI 1.5.1 embeds. */
export const TEMPORAL_UI_SERVER_VERSION = '2.42.1';

export interface ServerBinaries {
  server: string;
  sqlTool: string;
  uiServer: string;
}

interface Binary {
  key: keyof ServerBinaries;
  envVar: string;
  what: string;
  moduleAtVersion: string;
  builtName: string;
  target: (env: NodeJS.ProcessEnv) => string;
}

const serverDir = (env: NodeJS.ProcessEnv) =>
  join(linkflowCacheRoot(env), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
const uiDir = (env: NodeJS.ProcessEnv) =>
  join(linkflowCacheRoot(env), `temporal-ui-server-${TEMPORAL_UI_SERVER_VERSION}`);

// Built in this order: the SQL tool reuses most of the server's compiled packages.
const BINARIES: readonly Binary[] = [
  {
    key: 'server',
    envVar: 'TEMPORAL_SERVER',
    what: `the Temporal server ${TEMPORAL_SERVER_VERSION}`,
    moduleAtVersion: `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
    builtName: 'server',
    target: (env) => join(serverDir(env), 'temporal-server'),
  },
  {
    key: 'sqlTool',
    envVar: 'TEMPORAL_SQL_TOOL',
    what: `Temporal's SQL tool ${TEMPORAL_SERVER_VERSION}`,
    moduleAtVersion: `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
    builtName: 'sql',
    target: (env) => join(serverDir(env), 'temporal-sql-tool'),
  },
  {
    key: 'uiServer',
    envVar: 'TEMPORAL_UI_SERVER',
    what: `the Temporal UI server ${TEMPORAL_UI_SERVER_VERSION}`,
    moduleAtVersion: `github.com/temporalio/ui-server/v2/cmd/server@v${TEMPORAL_UI_SERVER_VERSION}`,
    builtName: 'server',
    target: (env) => join(uiDir(env), 'temporal-ui-server'),
  },
];

/** Thrown when a binary is missing and cannot be built here (no Go toolchain). */
export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError';
}

/** The binaries already available (from the env or the cache), without building anything. */
export async function cachedServerBinaries(
  env: NodeJS.ProcessEnv = process.env,
): Promise<Partial<ServerBinaries>> {
  const found: Partial<ServerBinaries> = {};
  for (const binary of BINARIES) {
    const path = env[binary.envVar] || binary.target(env);
    if (await isExecutable(path)) found[binary.key] = path;
  }
  return found;
}

/** Returns the three binaries, building the missing ones (minutes the first time). */
export async function ensureServerBinaries(
  opts: { log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<ServerBinaries> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const found = await cachedServerBinaries(env);
  for (const binary of BINARIES) {
    if (found[binary.key]) continue;
    if (env[binary.envVar]) {
      throw new MissingBinaryError(`${binary.envVar}=${env[binary.envVar]} is not an executable file`);
    }
    const go = findOnPath('go', env)[0];
    if (!go) {
      throw new MissingBinaryError(
        `${binary.what} is not built and there is no Go toolchain: install Go (it builds it once into ${binary.target(env)}) or set ${binary.envVar}.`,
      );
    }
    found[binary.key] = await goInstall(
      go,
      {
        what: binary.what,
        moduleAtVersion: binary.moduleAtVersion,
        builtName: binary.builtName,
        target: binary.target(env),
      },
      log,
      env,
    );
  }
  return found as ServerBinaries;
}
