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
import { delimiter, join } from 'node:path';
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

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'linkflow', `temporal-${TEMPORAL_CLI_VERSION}`);
}

async function isExecutable(path: string): Promise<boolean> {
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

function findOnPath(name: string, env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, name))
    .filter((p) => existsSync(p));
}

async function buildWithGo(go: string, log: (line: string) => void, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = cacheDir(env);
  const target = join(dir, 'temporal');
  const staging = join(dir, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const started = Date.now();
  log(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy (first run only, takes a few minutes)...`,
  );
  const heartbeat = setInterval(() => {
    log(`  ...still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)`);
  }, 20_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        go,
        [
          'install',
          '-ldflags',
          `-s -w -X ${VERSION_LDFLAG}=${TEMPORAL_CLI_VERSION}`,
          `${MODULE}@v${TEMPORAL_CLI_VERSION}`,
        ],
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
        else reject(new Error(`go install of the Temporal CLI failed (exit ${code}):\n${tail}`));
      });
    });
    // Atomic within one filesystem: a concurrent builder either sees no binary or a whole one.
    await rename(join(staging, 'temporal'), target);
    log(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s: ${target}`);
    return target;
  } finally {
    clearInterval(heartbeat);
    await rm(staging, { recursive: true, force: true });
  }
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
