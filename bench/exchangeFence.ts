/**
 * `node --import tsx bench/exchangeFence.ts [--exchanges N]`: what the exchange fence costs per
 * exchange, on PGlite and on PostgreSQL (a throwaway server from the machine's binaries).
 *
 * Against the Plaid emulator over HTTP, N public tokens are exchanged two ways, interleaved:
 *  - before: the pre-fence path (look-up, intent row, Plaid exchange, save);
 *  - fenced: the exchange activity (look-up, lease in a transaction, call mark, Plaid exchange,
 *    save, lease refreshes while it works).
 * Prints the median and p95 of each and the median of the lease statements alone (acquire +
 * call mark), the fence's own cost.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CountryCode, Products } from 'plaid';
import { exchangePublicToken } from '../src/activities/exchangePublicToken';
import { createKeyring, generateKeyBase64 } from '../src/crypto';
import { startEmulator } from '../src/emulator';
import { createPlaidClient } from '../src/plaid/client';
import { createItemStore, type Db, openDatabase } from '../src/store';
import { startPostgres } from './postgres';

const { values } = parseArgs({ options: { exchanges: { type: 'string', default: '200' } } });
const N = Number(values.exchanges);

const emulator = await startEmulator({ port: 0, seed: 5 });
const plaid = createPlaidClient({ basePath: emulator.url, clientId: 'bench', secret: 'bench-secret' });

async function tokens(n: number) {
  const clientUserId = `bench-${randomUUID()}`;
  const { data: user } = await plaid.userCreate({ client_user_id: clientUserId });
  const out: Array<{ linkToken: string; publicToken: string; clientUserId: string; userId: string }> = [];
  while (out.length < n) {
    const { data: link } = await plaid.linkTokenCreate({
      user: { client_user_id: clientUserId },
      user_id: user.user_id,
      client_name: 'bench',
      language: 'en',
      country_codes: [CountryCode.Us],
      products: [Products.Transactions],
      enable_multi_item_link: true,
    });
    const res = await fetch(`${emulator.url}/__emulator/link/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        link_token: link.link_token,
        institutions: ['ins_109508', 'ins_109509', 'ins_109510'],
      }),
    });
    const done = (await res.json()) as { public_tokens: string[] };
    for (const publicToken of done.public_tokens)
      out.push({ linkToken: link.link_token, publicToken, clientUserId, userId: user.user_id });
  }
  return out.slice(0, n);
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const ms = (x: number) => Math.round(x * 100) / 100;

async function run(name: string, db: Db) {
  const store = createItemStore(db, createKeyring(generateKeyBase64()));
  const all = await tokens(2 * N);
  const before: number[] = [];
  const fenced: number[] = [];
  const lease: number[] = [];
  for (let i = 0; i < N; i++) {
    const a = all[2 * i];
    const b = all[2 * i + 1];
    if (!a || !b) break;
    let t = performance.now();
    await store.findExchange(a.publicToken);
    await store.beginExchange(a);
    const { data } = await plaid.itemPublicTokenExchange({ public_token: a.publicToken });
    await store.completeExchange({ ...a, itemId: data.item_id, accessToken: data.access_token });
    before.push(performance.now() - t);

    t = performance.now();
    const result = await exchangePublicToken({ plaid, store }, b, {
      owner: `bench#${i}`,
      cancellation: new AbortController().signal,
    });
    fenced.push(performance.now() - t);
    if (!result.ok) throw new Error(`exchange failed: ${JSON.stringify(result)}`);

    // The fence's own statements, on a fresh intent.
    const key = `public-bench-${randomUUID()}`;
    t = performance.now();
    const got = await store.exchangeLedger.acquire({
      key,
      linkToken: b.linkToken,
      owner: 'bench',
      ttlMs: 40_000,
    });
    if (got.kind !== 'acquired') throw new Error('lease not acquired');
    await store.exchangeLedger.callStarted({ key, generation: got.generation, mustOutliveMs: 25_000 });
    lease.push(performance.now() - t);
  }
  const row = {
    driver: name,
    exchanges: before.length,
    before_median_ms: ms(percentile(before, 50)),
    fenced_median_ms: ms(percentile(fenced, 50)),
    before_p95_ms: ms(percentile(before, 95)),
    fenced_p95_ms: ms(percentile(fenced, 95)),
    overhead_median_ms: ms(percentile(fenced, 50) - percentile(before, 50)),
    lease_statements_median_ms: ms(percentile(lease, 50)),
  };
  console.log(JSON.stringify(row));
}

try {
  const pglite = await openDatabase({});
  await run('pglite', pglite);
  await pglite.close();
  const server = await startPostgres();
  if (server) {
    try {
      const pg = await openDatabase({ databaseUrl: server.url });
      await run('postgres', pg);
      await pg.close();
    } finally {
      await server.stop();
    }
  } else {
    console.log('PostgreSQL binaries not installed: PGlite only');
  }
} finally {
  await emulator.close();
}
