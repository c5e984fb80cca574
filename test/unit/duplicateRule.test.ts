/** Plaid's duplicate-Item comparison (issue 15), as a pure rule: institution_id + an account's name and mask. */
import { describe, expect, it } from 'vitest';
import { fingerprintOf, sameItem } from '../../src/store/duplicateItems';

const fp = (institutionId: string | null, ...accounts: Array<[string | null, string | null]>) => ({
  institutionId,
  accounts: accounts.map(([name, mask]) => ({ name, mask })),
});

describe('sameItem', () => {
  it('the same institution and one account with the same name and mask: the same Item, naming that account', () => {
    const existing = fp('ins_4', ['Checking', '0000'], ['Saving', '1111']);
    expect(sameItem(fp('ins_4', ['Saving', '1111']), existing)).toEqual({ name: 'Saving', mask: '1111' });
    // One shared account is enough: the user may have shared fewer or more accounts this time.
    expect(sameItem(fp('ins_4', ['Credit Card', '3333'], ['Checking', '0000']), existing)).toEqual({
      name: 'Checking',
      mask: '0000',
    });
    // Surrounding blanks are not a difference.
    expect(sameItem(fp(' ins_4 ', [' Checking', '0000 ']), existing)).not.toBeNull();
  });

  it('another institution, another mask or another name: not the same Item', () => {
    const existing = fp('ins_4', ['Checking', '0000']);
    expect(sameItem(fp('ins_5', ['Checking', '0000']), existing)).toBeNull();
    expect(sameItem(fp('ins_4', ['Checking', '0001']), existing)).toBeNull();
    expect(sameItem(fp('ins_4', ['Savings', '0000']), existing)).toBeNull();
    // Name and mask must meet in the same account, not across two.
    expect(sameItem(fp('ins_4', ['Checking', '1111'], ['Saving', '0000']), existing)).toBeNull();
  });

  it('nothing missing ever proves a match: no institution id, no name or no mask', () => {
    expect(sameItem(fp(null, ['Checking', '0000']), fp(null, ['Checking', '0000']))).toBeNull();
    expect(sameItem(fp('ins_4', ['Checking', null]), fp('ins_4', ['Checking', null]))).toBeNull();
    expect(sameItem(fp('ins_4', [null, '0000']), fp('ins_4', [null, '0000']))).toBeNull();
    expect(sameItem(fp('ins_4', ['', '']), fp('ins_4', ['', '']))).toBeNull();
    expect(sameItem(fp('ins_4'), fp('ins_4', ['Checking', '0000']))).toBeNull();
  });

  it('reads Link metadata (or its absence)', () => {
    expect(
      fingerprintOf({
        institution: { institution_id: 'ins_4', name: 'Wells Fargo' },
        accounts: [
          { account_id: 'a', name: 'Checking', mask: '0000', type: 'depository', subtype: 'checking' },
        ],
      }),
    ).toEqual(fp('ins_4', ['Checking', '0000']));
    expect(fingerprintOf(null)).toEqual(fp(null));
  });
});
