/**
 * Provisions the Temporal CLI (which embeds the dev server and its UI) without internet.
 *
 * `@temporalio/testing` would download the CLI at run time; these machines reach only package
 * registries, so we resolve it in this order and cache the result outside the clone:
 *   1. `TEMPORAL_CLI`, or a `temporal` on PATH whose version we support;
 *   2. a binary we built earlier into `~/.cache/linkflow/temporal-<version>/`;
 *   3. a fresh build from the Go module proxy (`go install`), into a temporary name then renamed,
 *      so two processes building at once never leave a half-written binary behind;
 *   4. nothing: the caller lets `@temporalio/testing` download it (a machine with internet, no Go).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** v1.6.0 and later carry a `replace` directive and cannot be `go install`ed. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';
const VERSION_LDFLAG = 'github.com/temporalio/cli/temporalcli.Version';
/** Oldest CLI with every dev-server flag we pass (--search-attribute, --ui-codec-endpoint, ...). */
const MIN_SUPPORTED: readonly [number, number] = [1, 1];

export type CliSource = 'env' | 'path' | 'cache' | 'built';
export interface ResolvedCli {
  path: string;
  version: string;
  source: CliSource;
}

export interface EnsureOptions {
  /** Progress lines (the first build takes minutes). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** `~/.cache/linkflow` (or under XDG_CACHE_HOME): built binaries, outside the clone. */
export function linkflowCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'linkflow');
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(linkflowCacheRoot(env), `temporal-${TEMPORAL_CLI_VERSION}`);
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `temporal --version` prints e.g. `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`. */
export async function cliVersion(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(path, ['--version'], { timeout: 15_000 });
    return /version\s+(\S+)/.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

export function isSupportedVersion(version: string | undefined): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(version ?? '');
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > MIN_SUPPORTED[0] || (major === MIN_SUPPORTED[0] && minor >= MIN_SUPPORTED[1]);
}

export function findOnPath(name: string, env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .filter((p) => existsSync(p));
}

export interface GoInstall {
  /** What is built, for progress lines ("the Temporal CLI 1.5.1"). */
  what: string;
  /** `module/path/cmd/name@vX.Y.Z`. */
  moduleAtVersion: string;
  /** The binary `go install` writes (the last element of the package path). */
  builtName: string;
  /** Where the binary ends up. */
  target: string;
  ldflags?: string;
}

/**
 * `go install` into a staging directory next to `target`, then a rename: atomic within one
 * filesystem, so a concurrent builder either sees no binary or a whole one.
 */
export async function goInstall(
  go: string,
  build: GoInstall,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const dir = dirname(build.target);
  await mkdir(dir, { recursive: true });
  const staging = join(dir, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const started = Date.now();
  log(`Building ${build.what} from the Go module proxy (first run only, takes a few minutes)...`);
  const heartbeat = setInterval(() => {
    log(`  ...still building ${build.what} (${Math.round((Date.now() - started) / 1000)} s)`);
  }, 20_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        go,
        ['install', '-ldflags', `-s -w ${build.ldflags ?? ''}`.trim(), build.moduleAtVersion],
        { env: { ...env, GOBIN: staging, GOFLAGS: env.GOFLAGS ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let tail = '';
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        tail = (tail + text).slice(-4000);
        for (const line of text.split('\n')) if (line.trim()) log(`  ${line.trim()}`);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('exit', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`go install of ${build.what} failed (exit ${code}):\n${tail}`));
      });
    });
    await rename(join(staging, build.builtName), build.target);
    log(`${build.what} built in ${Math.round((Date.now() - started) / 1000)} s: ${build.target}`);
    return build.target;
  } finally {
    clearInterval(heartbeat);
    await rm(staging, { recursive: true, force: true });
  }
}

function buildWithGo(go: string, log: (line: string) => void, env: NodeJS.ProcessEnv): Promise<string> {
  return goInstall(
    go,
    {
      what: `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
      moduleAtVersion: `${MODULE}@v${TEMPORAL_CLI_VERSION}`,
      builtName: 'temporal',
      target: join(cacheDir(env), 'temporal'),
      ldflags: `-X ${VERSION_LDFLAG}=${TEMPORAL_CLI_VERSION}`,
    },
    log,
    env,
  );
}

/**
 * Returns a runnable Temporal CLI, building it if needed, or `undefined` when the only way left is
 * to let `@temporalio/testing` download one.
 */
export async function ensureTemporalCli(opts: EnsureOptions = {}): Promise<ResolvedCli | undefined> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  if (env.TEMPORAL_CLI) {
    const version = await cliVersion(env.TEMPORAL_CLI);
    if (!version) throw new Error(`TEMPORAL_CLI=${env.TEMPORAL_CLI} is not a runnable Temporal CLI`);
    return { path: env.TEMPORAL_CLI, version, source: 'env' };
  }
  for (const candidate of findOnPath('temporal', env)) {
    const version = await cliVersion(candidate);
    if (isSupportedVersion(version)) return { path: candidate, version: version as string, source: 'path' };
  }
  const cached = join(cacheDir(env), 'temporal');
  if (await isExecutable(cached)) {
    const version = await cliVersion(cached);
    if (version) return { path: cached, version, source: 'cache' };
  }
  const go = findOnPath('go', env).find(() => true);
  if (!go) return undefined;
  await mkdir(cacheDir(env), { recursive: true });
  const path = await buildWithGo(go, log, env);
  const version = await cliVersion(path);
  if (!version) throw new Error(`the Temporal CLI built at ${path} does not run`);
  return { path, version, source: 'built' };
}
