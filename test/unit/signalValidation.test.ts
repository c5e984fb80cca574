import { describe, expect, it } from 'vitest';
import {
  checkItemAddResult,
  checkPaymentAccountRequest,
  checkSessionFinished,
  REJECTED_PAYLOAD_FIELD,
} from '../../src/workflows/signalValidation';

const at = '2026-01-01T00:00:00.000Z';
const item = {
  public_token: 'public-sandbox-1',
  link_session_id: 'lsid',
  received_at: at,
  webhook_mac: 'k:m',
};
const finished = {
  status: 'SUCCESS',
  link_session_id: null,
  public_tokens: ['public-sandbox-1'],
  received_at: at,
  webhook_mac: 'k:m',
};

const reason = (r: { ok: boolean; reason?: string }) => (r.ok ? null : r.reason);

describe('signal validation (pure, in the workflow)', () => {
  it('accepts an authenticated ITEM_ADD_RESULT and keeps only its fields', () => {
    expect(checkItemAddResult({ ...item, extra: 'x' })).toEqual({
      ok: true,
      value: { public_token: 'public-sandbox-1', link_session_id: 'lsid', received_at: at },
    });
    expect(checkItemAddResult({ ...item, link_session_id: undefined })).toMatchObject({
      ok: true,
      value: { link_session_id: null },
    });
  });

  it('refuses what the codec rejected, with its reason', () => {
    expect(reason(checkItemAddResult({ [REJECTED_PAYLOAD_FIELD]: 'not encrypted' }))).toBe('not encrypted');
    expect(reason(checkSessionFinished({ [REJECTED_PAYLOAD_FIELD]: 'bad mac' }))).toBe('bad mac');
    expect(reason(checkPaymentAccountRequest({ [REJECTED_PAYLOAD_FIELD]: 'plain' }))).toBe('plain');
  });

  it('refuses signals without webhook_mac (not from the webhook route)', () => {
    const { webhook_mac: _a, ...noMac } = item;
    expect(reason(checkItemAddResult(noMac))).toMatch(/no webhook_mac/);
    expect(reason(checkItemAddResult({ ...item, webhook_mac: '' }))).toMatch(/no webhook_mac/);
  });

  it.each([
    ['missing public_token', { ...item, public_token: undefined }, /public_token/],
    ['numeric public_token', { ...item, public_token: 42 }, /public_token/],
    ['public_token with spaces', { ...item, public_token: 'public sandbox' }, /public_token/],
    ['huge public_token', { ...item, public_token: 'p'.repeat(513) }, /public_token/],
    ['object link_session_id', { ...item, link_session_id: {} }, /link_session_id/],
    ['received_at not a date', { ...item, received_at: 'yesterday' }, /received_at/],
    ['null', null, /not an object/],
    ['array', [item], /not an object/],
    ['string', 'public-sandbox-1', /not an object/],
  ])('refuses ITEM_ADD_RESULT with %s', (_name, raw, why) => {
    expect(reason(checkItemAddResult(raw))).toMatch(why);
  });

  it.each([
    ['unknown status', { ...finished, status: 'success' }, /status/],
    ['public_tokens not a list', { ...finished, public_tokens: 'public-sandbox-1' }, /public_tokens/],
    ['a non-string token', { ...finished, public_tokens: ['ok', 1] }, /public_tokens/],
    [
      'too many tokens',
      { ...finished, public_tokens: Array.from({ length: 101 }, (_, i) => `p-${i}`) },
      /public_tokens/,
    ],
    ['no received_at', { ...finished, received_at: undefined }, /received_at/],
  ])('refuses SESSION_FINISHED with %s', (_name, raw, why) => {
    expect(reason(checkSessionFinished(raw))).toMatch(why);
  });

  it('accepts a well-formed SESSION_FINISHED', () => {
    expect(checkSessionFinished(finished)).toEqual({
      ok: true,
      value: {
        status: 'SUCCESS',
        link_session_id: null,
        public_tokens: ['public-sandbox-1'],
        received_at: at,
      },
    });
  });

  it('checks the payment-account update argument', () => {
    expect(checkPaymentAccountRequest({ account_id: 'acc-1' })).toEqual({
      ok: true,
      value: { account_id: 'acc-1' },
    });
    expect(reason(checkPaymentAccountRequest({}))).toMatch(/account_id/);
    expect(reason(checkPaymentAccountRequest({ account_id: ['x'] }))).toMatch(/account_id/);
    expect(reason(checkPaymentAccountRequest(undefined))).toMatch(/not an object/);
  });
});
