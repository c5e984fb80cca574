/**
 * 4. Verification cost: `createWebhookVerifier` (src/api/webhookVerifier.ts) on a real
 * emulator-signed ITEM_ADD_RESULT, key cached (fetched once through `/webhook_verification_key/get`
 * like the API does), called in a loop; microseconds per webhook as the median over batches.
 * Also the parts: the body hash alone and jose's `jwtVerify` alone.
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { plaidWebhookKeySource } from '../src/api/plaidKeys';
import { createWebhookVerifier } from '../src/api/webhookVerifier';
import { CATALOGUE } from '../src/emulator';
import { type BenchStack, createSession, emulatorCall } from './stack';
import { median, percentile, round, until } from './util';

export interface VerifyResult {
  verify_us: number;
  verify_p90_us: number;
  jwt_verify_us: number;
  body_hash_us: number;
  body_bytes: number;
  batches: number;
  batch_size: number;
}

async function timeBatches(batches: number, size: number, fn: () => Promise<unknown> | unknown) {
  const perCall: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < size; i++) await fn();
    perCall.push(((performance.now() - t0) * 1000) / size);
  }
  return perCall;
}

export async function benchVerify(
  stack: BenchStack,
  opts = { batches: 25, size: 400 },
): Promise<VerifyResult> {
  // A fresh, real signed webhook (iat must be recent).
  const session = await createSession(stack, 'bench-verify');
  const before = stack.tap.captured.length;
  await emulatorCall(stack, '/__emulator/link/complete', {
    link_token: session.link_token,
    institutions: [CATALOGUE[0]?.institution_id],
  });
  const webhook = await until(
    'a signed ITEM_ADD_RESULT',
    () =>
      stack.tap.captured
        .slice(before)
        .find((w) => w.code === 'ITEM_ADD_RESULT' && w.linkToken === session.link_token),
    { timeoutMs: 30_000, intervalMs: 20 },
  );
  const raw = new TextEncoder().encode(webhook.body);
  const header = webhook.signature;

  const fetchKey = plaidWebhookKeySource(stack.services.plaid);
  const verifier = createWebhookVerifier({ fetchKey });
  const first = await verifier.verify(raw, header);
  if (!first.ok) throw new Error(`the emulator's signature did not verify: ${first.reason}`);

  const kid = decodeProtectedHeader(header).kid as string;
  const jwk = await fetchKey(kid);
  if (!jwk) throw new Error('no key');
  const key = await importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');

  // Warm-up, then measure.
  await timeBatches(4, opts.size, () => verifier.verify(raw, header));
  const full = await timeBatches(opts.batches, opts.size, async () => {
    const r = await verifier.verify(raw, header);
    if (!r.ok) throw new Error(r.reason);
  });
  const jwt = await timeBatches(opts.batches, opts.size, () =>
    jwtVerify(header, key, { algorithms: ['ES256'] }),
  );
  const hash = await timeBatches(opts.batches, opts.size * 10, () =>
    createHash('sha256').update(raw).digest('hex'),
  );
  return {
    verify_us: round(median(full), 1),
    verify_p90_us: round(percentile(full, 90), 1),
    jwt_verify_us: round(median(jwt), 1),
    body_hash_us: round(median(hash), 2),
    body_bytes: raw.length,
    batches: opts.batches,
    batch_size: opts.size,
  };
}
