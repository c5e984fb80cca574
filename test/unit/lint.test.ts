import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const biome = join(root, 'node_modules', '.bin', 'biome');

interface Diagnostic {
  category: string;
  location: { path: string };
}

/** Lints one file placed at `relPath` in a scratch project carrying the repository's biome.json. */
async function lintAs(dir: string, relPath: string, source: string): Promise<Diagnostic[]> {
  await mkdir(join(dir, relPath, '..'), { recursive: true });
  await writeFile(join(dir, relPath), source);
  try {
    await promisify(execFile)(biome, ['lint', '--reporter=json', relPath], { cwd: dir });
    return [];
  } catch (err) {
    const { stdout } = err as { stdout: string };
    return (JSON.parse(stdout) as { diagnostics: Diagnostic[] }).diagnostics;
  }
}

describe('lint: workflow code imports only @temporalio/workflow and its own modules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linkflow-lint-'));
    const config = JSON.parse(await readFile(join(root, 'biome.json'), 'utf8'));
    delete config.vcs;
    delete config.$schema;
    await writeFile(join(dir, 'biome.json'), JSON.stringify(config));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects a workflow file that imports node:crypto', async () => {
    const diagnostics = await lintAs(
      dir,
      'src/workflows/bad.ts',
      "import { randomUUID } from 'node:crypto';\n\nexport const id = randomUUID();\n",
    );
    expect(diagnostics.map((d) => d.category)).toContain('lint/style/noRestrictedImports');
  });

  it('rejects activity implementations and other packages in workflow code', async () => {
    const diagnostics = await lintAs(
      dir,
      'src/workflows/bad2.ts',
      "import { Context } from '@temporalio/activity';\nimport pg from 'pg';\n\nexport const x = [Context, pg];\n",
    );
    expect(diagnostics.filter((d) => d.category === 'lint/style/noRestrictedImports')).toHaveLength(2);
  });

  it('accepts @temporalio/workflow and sibling workflow modules', async () => {
    await lintAs(dir, 'src/workflows/reducer.ts', 'export const reduce = 1;\n');
    const diagnostics = await lintAs(
      dir,
      'src/workflows/good.ts',
      "import { sleep } from '@temporalio/workflow';\nimport { reduce } from './reducer';\n\nexport const x = [sleep, reduce];\n",
    );
    expect(diagnostics).toEqual([]);
  });

  it('does not restrict imports outside src/workflows', async () => {
    const diagnostics = await lintAs(
      dir,
      'src/activities/ok.ts',
      "import { randomUUID } from 'node:crypto';\n\nexport const id = randomUUID();\n",
    );
    expect(diagnostics).toEqual([]);
  });
});
