/**
 * `npm run build`: the production processes as plain JavaScript in dist/, so `npm run worker` and
 * `npm run api` run without tsx's loader thread and the worker never loads webpack:
 *
 *   dist/worker.mjs, dist/api.mjs   our code bundled by esbuild (npm packages stay external)
 *   dist/failureConverter.cjs       loaded by path with require() by the Temporal SDK
 *   dist/workflow-bundle.js         the workflow code, bundled once by the SDK's bundler
 *   dist/migrations/, demo assets   files the code reads next to itself at run time
 *
 * `--if-stale` does nothing when dist/ was built from the same sources (a hash of src/, this
 * script and the lockfile), so `npm run worker` can build on first use and start at once after.
 * Measured in issue 9: the built worker's RSS is ~150 MB lower than the source-run one.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
export const DIST_DIR = join(root, 'dist');
const HASH_FILE = '.sources-sha256';

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function sourcesHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    ...(await filesUnder(join(root, 'src'))),
    fileURLToPath(import.meta.url),
    join(root, 'package-lock.json'),
  ];
  for (const file of files) {
    hash
      .update(relative(root, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  return hash.digest('hex');
}

export async function buildDist(
  opts: { ifStale?: boolean; outDir?: string } = {},
): Promise<'built' | 'up to date'> {
  const dist = opts.outDir ?? DIST_DIR;
  const hash = await sourcesHash();
  if (opts.ifStale && (await readFile(join(dist, HASH_FILE), 'utf8').catch(() => '')) === hash)
    return 'up to date';
  const staging = `${dist}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const common = {
      bundle: true,
      platform: 'node',
      target: 'node20',
      packages: 'external',
      define: { LINKFLOW_BUILT: 'true' },
      sourcemap: 'linked',
      logLevel: 'warning',
      absWorkingDir: root,
    } as const;
    await build({
      ...common,
      entryPoints: { worker: 'src/main/worker.ts', api: 'src/main/api.ts' },
      outdir: staging,
      format: 'esm',
      outExtension: { '.js': '.mjs' },
    });
    await build({
      ...common,
      entryPoints: { failureConverter: 'src/temporal/failureConverter.ts' },
      outdir: staging,
      format: 'cjs',
      outExtension: { '.js': '.cjs' },
    });
    // Imported only when building: the staleness check must stay cheap for `npm run worker`.
    const { bundleLinkSessionWorkflows, WORKFLOW_BUNDLE_FILE } = await import('../src/temporal/worker');
    const { code } = await bundleLinkSessionWorkflows();
    await writeFile(join(staging, WORKFLOW_BUNDLE_FILE), code);
    await cp(join(root, 'src/store/migrations'), join(staging, 'migrations'), { recursive: true });
    for (const asset of ['demo.js', 'demo.css']) await cp(join(root, 'src/web', asset), join(staging, asset));
    await writeFile(join(staging, HASH_FILE), hash);
    await rm(dist, { recursive: true, force: true });
    await rename(staging, dist);
    return 'built';
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  const outcome = await buildDist({ ifStale: process.argv.includes('--if-stale') });
  if (outcome === 'built' || !process.argv.includes('--quiet'))
    console.error(`linkflow build: dist/ ${outcome} (${Math.round(performance.now() - started)} ms)`);
}
