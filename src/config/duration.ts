/** Durations as the contract writes them: `250ms`, `30s`, `5m`, `6h`, `1d`. */
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (expected e.g. 250ms, 30s, 5m, 6h, 1d)`);
  return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
}
