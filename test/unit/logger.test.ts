/** Redaction happens in linkflow's own formatter (not pino's `redact`), so it is tested here. */
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, redactSecrets } from '../../src/observability/logger';

function capture(level = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l)) };
}

describe('logger redaction', () => {
  it('redacts secret keys at the top level, nested, inside arrays and case-insensitively', () => {
    const { logger, parsed, lines } = capture();
    logger.info(
      {
        access_token: 'access-sandbox-1',
        body: { public_token: 'public-sandbox-2', items: [{ processor_token: 'processor-3', id: 'item-1' }] },
        headers: { Authorization: 'Bearer k', 'Plaid-Verification': 'eyJhbGciOi', 'content-type': 'json' },
        public_tokens: ['public-sandbox-4'],
        deep: { a: { b: { c: { user_token: 'user-sandbox-5' } } } },
      },
      'hello',
    );
    const [line] = parsed();
    expect(line.access_token).toBe(REDACTED);
    expect(line.body.public_token).toBe(REDACTED);
    expect(line.body.items[0]).toEqual({ processor_token: REDACTED, id: 'item-1' });
    expect(line.headers).toEqual({
      Authorization: REDACTED,
      'Plaid-Verification': REDACTED,
      'content-type': 'json',
    });
    expect(line.public_tokens).toBe(REDACTED);
    expect(line.deep.a.b.c.user_token).toBe(REDACTED);
    expect(lines.join('')).not.toMatch(/sandbox-|processor-3|eyJhbGciOi|Bearer k/);
  });

  it('redacts child-logger bindings too', () => {
    const { logger, lines } = capture();
    logger.child({ request_id: 'r-1', secret: 'shh' }).info({ ok: true }, 'x');
    const line = JSON.parse(lines[0] ?? '{}');
    expect(line.request_id).toBe('r-1');
    expect(line.secret).toBe(REDACTED);
    logger.child({ a: 1 }).child({ authorization: 'Bearer k' }).info('y');
    expect(JSON.parse(lines[1] ?? '{}').authorization).toBe(REDACTED);
    expect(lines.join('')).not.toContain('shh');
  });

  it('never mutates what the caller logged, and returns the same object when nothing is secret', () => {
    const input = { nested: { api_key: 'k', keep: 1 }, list: [1, 2] };
    const out = redactSecrets(input);
    expect(input.nested.api_key).toBe('k');
    expect(out.nested.api_key).toBe(REDACTED);
    expect(out.list).toBe(input.list);
    const clean = { a: { b: [1, { c: 'd' }] } };
    expect(redactSecrets(clean)).toBe(clean);
  });

  it('leaves class instances (errors, dates) to pino serializers', () => {
    const err = Object.assign(new Error('boom'), { code: 'E' });
    const when = new Date(0);
    expect(redactSecrets({ err, when }).err).toBe(err);
  });
});
