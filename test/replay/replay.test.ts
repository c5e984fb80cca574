/**
 * Replays every recorded history in test/histories against today's workflow bundle: a change to
 * the workflow that would break sessions already running in production fails here, before it is
 * deployed. Record them with `npm run histories:record` (see recordHistories.ts).
 *
 * The histories' payloads are encrypted with the committed test key; the replay worker uses the
 * same codec and failure converter as the real worker (the workflow reads its input, signals and
 * activity results, so replay must decode them).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { type ReplayWorkerOptions, Worker, type WorkflowBundle } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKeyring } from '../../src/crypto';
import { createEncryptionCodec } from '../../src/temporal/codec';
import { failureConverterPath } from '../../src/temporal/dataConverter';
import { linkSessionWorkflowId } from '../../src/workflows/definitions';
import type { LinkSessionInput } from '../../src/workflows/types';
import { linkSessionBundle, workflowBundle } from '../helpers/temporal';
import { REPLAY_TEST_KEY, replayDataConverter } from './testKey';

const HISTORIES_DIR = fileURLToPath(new URL('../histories', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Recorded extends HistoryAndWorkflowId {
  file: string;
  history: History;
}

let histories: Recorded[];

/** `link-session:<link token>`, from the recorded start input (decrypted with the test key). */
async function recordedWorkflowId(history: History): Promise<string> {
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!input) throw new Error('a recorded history without a start input');
  const [plain] = await createEncryptionCodec(createKeyring(REPLAY_TEST_KEY)).decode([input as Payload]);
  const { linkToken } = defaultPayloadConverter.fromPayload<LinkSessionInput>(plain as Payload);
  return linkSessionWorkflowId(linkToken);
}

beforeAll(async () => {
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  histories = await Promise.all(
    files.map(async (file) => {
      const history = historyFromJSON(JSON.parse(await readFile(join(HISTORIES_DIR, file), 'utf8')));
      // The session's own workflow id: the codec checks a webhook signal's MAC against it.
      return { file, workflowId: await recordedWorkflowId(history), history };
    }),
  );
});

/** Replays every history with one replay worker; one outcome per history, in order. */
async function replayAll(bundle: WorkflowBundle, opts: Partial<ReplayWorkerOptions> = {}) {
  const outcomes: Array<{ file: string; error: unknown }> = [];
  // In order, one per history (two runs of one session share a workflow id).
  let i = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: bundle, dataConverter: replayDataConverter(), replayName: 'linkflow-replay', ...opts },
    histories,
  )) {
    outcomes.push({ file: histories[i++]?.file ?? result.workflowId, error: result.error });
  }
  return outcomes;
}

const describeError = (e: unknown) =>
  e instanceof Error ? `${e.constructor.name}: ${e.message.split('\n')[0]}` : String(e);

describe('replay of recorded histories', () => {
  it('replays every history in test/histories against today’s workflow code', async () => {
    expect(histories.length).toBeGreaterThanOrEqual(8);
    const outcomes = await replayAll(await linkSessionBundle());
    const failures = outcomes.filter((o) => o.error !== undefined);
    expect(failures.map((f) => `${f.file}: ${describeError(f.error)}`)).toEqual([]);
    // Every file was replayed, not skipped.
    expect(outcomes.map((o) => o.file)).toEqual(histories.map((h) => h.file));
    console.log(
      JSON.stringify({ replay: { histories: outcomes.length, files: histories.map((h) => h.file) } }),
    );
  });

  it('catches a real change: an unversioned extra activity fails every history with a DeterminismViolationError', async () => {
    const altered = await workflowBundle(fixture('alteredWorkflows.ts'), { failureConverterPath });
    const outcomes = await replayAll(altered);
    expect(outcomes).toHaveLength(histories.length);
    for (const { file, error } of outcomes) {
      expect(error, `${file} should not replay on the altered workflow`).toBeInstanceOf(
        DeterminismViolationError,
      );
    }
  });

  it('the same change behind patched() replays cleanly (the versioning the README describes)', async () => {
    const patchedBundle = await workflowBundle(fixture('patchedWorkflows.ts'), { failureConverterPath });
    const outcomes = await replayAll(patchedBundle);
    expect(outcomes.filter((o) => o.error).map((o) => `${o.file}: ${describeError(o.error)}`)).toEqual([]);
    expect(outcomes).toHaveLength(histories.length);
  });

  it('needs the recording key: the input in history is encrypted and decodes only with it', async () => {
    const [first] = histories;
    if (!first) throw new Error('no histories');
    const started = first.history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const payload = started?.input?.payloads?.[0];
    if (!payload) throw new Error(`${first.file}: no workflow input`);
    // What a replay worker without the codec would do with it:
    expect(() => defaultPayloadConverter.fromPayload(payload)).toThrow(/binary\/encrypted/);
    const [decoded] = await createEncryptionCodec(createKeyring(REPLAY_TEST_KEY)).decode([payload]);
    const input = defaultPayloadConverter.fromPayload<LinkSessionInput>(decoded as Payload);
    expect(input.linkToken).toMatch(/^link-sandbox-/);
    expect(input.timing.pollAfterMs).toBeGreaterThan(0);
  });
});
