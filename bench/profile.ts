/**
 * `--cpu-prof-dir DIR`: a CPU profile of this process's main thread (API, Temporal client, the
 * worker's JS side) around one measured run, through node:inspector, plus a summary of self time
 * by package so the table can say where the time went.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  sampled_ms: number;
  /** Requests (webhooks or signals) completed during the profiled run, when the caller knows. */
  requests?: number;
  /** Share of main-thread time by package or source file (self time), largest first. */
  by_package: Array<{ what: string; percent: number }>;
  top_functions: Array<{ what: string; percent: number }>;
}

function groupOf(node: ProfileNode): string {
  const url = node.callFrame.url;
  if (!url) return `(${node.callFrame.functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  const own = /\/(src\/.*|bench\/.*)$/.exec(url)?.[1];
  if (own) return own;
  return url.split('/').slice(0, 3).join('/');
}

export function summarize(profile: Profile, file: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += dt;
    const g = groupOf(node);
    groups.set(g, (groups.get(g) ?? 0) + dt);
    const f = `${node.callFrame.functionName || '(anonymous)'} (${g}:${node.callFrame.lineNumber + 1})`;
    functions.set(f, (functions.get(f) ?? 0) + dt);
  });
  const top = (m: Map<string, number>, k: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([what, v]) => ({ what, percent: Math.round((1000 * v) / total) / 10 }));
  return {
    file,
    sampled_ms: Math.round(total / 1000),
    by_package: top(groups, 25),
    top_functions: top(functions, 25),
  };
}

export async function profiled<T>(
  dir: string,
  name: string,
  fn: () => Promise<T>,
): Promise<[T, ProfileSummary]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    const result = await fn();
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    const file = join(dir, `${name}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    return [result, summarize(profile, file)];
  } finally {
    session.disconnect();
  }
}
