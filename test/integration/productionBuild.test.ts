/**
 * `npm run build` (scripts/build.ts): dist/ is what `npm run worker` and `npm run api` run. The
 * worker in dist/ is driven end to end by test/chaos/workerKilled.test.ts; this file checks the
 * build's own promises: every file the bundles read at run time is there, the failure converter
 * loads through `require()` as the SDK loads it, a rebuild is skipped only for the same sources,
 * and the built API still validates its configuration.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from '../../scripts/build';

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/linkflow', import.meta.url));
let parent: string;
let out: string;

beforeAll(async () => {
  // Inside the repository: the bundles keep npm packages external, resolved from node_modules.
  await mkdir(CACHE, { recursive: true });
  parent = await mkdtemp(join(CACHE, 'build-test-'));
  out = join(parent, 'dist');
  expect(await buildDist({ outDir: out })).toBe('built');
}, 120_000);

afterAll(async () => {
  if (parent) await rm(parent, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('writes the bundles, the workflow bundle and every file the code reads next to itself', async () => {
    const files = await readdir(out);
    for (const f of [
      'worker.mjs',
      'api.mjs',
      'failureConverter.cjs',
      'workflow-bundle.js',
      'demo.js',
      'demo.css',
    ])
      expect(files).toContain(f);
    expect((await readdir(join(out, 'migrations'))).filter((f) => f.endsWith('.sql')).length).toBeGreaterThan(
      0,
    );
    const worker = await readFile(join(out, 'worker.mjs'), 'utf8');
    // npm packages stay external, and PGlite is imported only when it is the database.
    expect(worker).toMatch(/from "@temporalio\/worker"/);
    expect(worker).not.toMatch(/^import .*@electric-sql\/pglite/m);
    expect(worker).toContain('import("@electric-sql/pglite")');
    expect(await readFile(join(out, 'workflow-bundle.js'), 'utf8')).toContain('linkSession');
  });

  it('ships a failure converter the SDK can require() and that encodes common attributes', () => {
    const mod = createRequire(import.meta.url)(join(out, 'failureConverter.cjs')) as {
      failureConverter: { options: { encodeCommonAttributes: boolean }; errorToFailure: unknown };
    };
    expect(typeof mod.failureConverter.errorToFailure).toBe('function');
    expect(mod.failureConverter.options.encodeCommonAttributes).toBe(true);
  });

  it('skips a rebuild for the same sources and rebuilds when dist/ was built from others', async () => {
    expect(await buildDist({ outDir: out, ifStale: true })).toBe('up to date');
    await writeFile(join(out, '.sources-sha256'), 'something else');
    expect(await buildDist({ outDir: out, ifStale: true })).toBe('built');
  }, 120_000);

  // Exit 2 comes from the configuration check, after every static import resolved under plain
  // Node (no tsx): a deep import without its `.js` extension fails here, not in production.
  it.each([
    ['api.mjs', { PORT: 'not-a-port' }, 'PORT'],
    ['worker.mjs', {}, 'DATABASE_URL'],
  ])(
    'runs the built %s, which refuses a bad configuration naming the variable (exit 2)',
    async (file, env, variable) => {
      const child = spawn(process.execPath, [join(out, file)], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      const output = Buffer.concat(chunks).toString();
      expect(code, output).toBe(2);
      expect(output).toContain(variable);
    },
  );
});
