/**
 * The state as JSON, fast enough to write before every answer. Items and link tokens are most of
 * the state and rarely change once written, so each one's JSON is cached and reused while its
 * change key is the same. The keys cover every field the emulator mutates after creation:
 *  - an Item: `removed_at`, `error` and its accounts' `verification_status` (nothing else changes
 *    once it exists);
 *  - a link token: its sessions and each session's event count (opening, adding an Item and
 *    finishing each append an event together with whatever else they change).
 * Everything else is serialised afresh each time.
 */
import type { EmulatorState, ItemRecord, LinkTokenRecord } from './state';

interface Cached {
  key: string;
  json: string;
}

const itemKey = (item: ItemRecord) =>
  `${item.removed_at}|${item.error ?? ''}|${item.accounts.map((a) => a.verification_status ?? '').join(',')}`;
const tokenKey = (token: LinkTokenRecord) => token.sessions.map((s) => s.events.length).join(',');

export class StateSerializer {
  private readonly items = new WeakMap<ItemRecord, Cached>();
  private readonly tokens = new WeakMap<LinkTokenRecord, Cached>();

  serialize(state: EmulatorState): string {
    const { items, link_tokens, ...rest } = state;
    const head = JSON.stringify(rest);
    return `${head.slice(0, -1)},"items":${record(items, itemKey, this.items)},"link_tokens":${record(
      link_tokens,
      tokenKey,
      this.tokens,
    )}}`;
  }
}

function record<T extends object>(
  entries: Record<string, T>,
  keyOf: (value: T) => string,
  cache: WeakMap<T, Cached>,
): string {
  const parts: string[] = [];
  for (const [id, value] of Object.entries(entries)) {
    const key = keyOf(value);
    let cached = cache.get(value);
    if (!cached || cached.key !== key) {
      cached = { key, json: JSON.stringify(value) };
      cache.set(value, cached);
    }
    parts.push(`${JSON.stringify(id)}:${cached.json}`);
  }
  return `{${parts.join(',')}}`;
}
