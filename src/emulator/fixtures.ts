/**
 * The institution catalogue the emulated end user picks from. Names and ids are Plaid's own
 * Sandbox institutions; account names follow Plaid's Sandbox test accounts. The mix is chosen so
 * every eligibility rule has a negative case:
 *  - ins_109508: Auth, checking + a savings account with a small balance (transfer NSF) + a card;
 *  - ins_109509: Auth, checking + mortgage;
 *  - ins_109510: no Auth support although it holds checking and savings;
 *  - ins_109511: Auth, a checking account at exactly $0 (Sandbox's RISK decline), money market
 *    (depository but not ACH-eligible here) and brokerage;
 *  - ins_109512: supports Auth but only holds credit, loan and investment accounts (NO_AUTH_ACCOUNTS).
 * The first three are the default picks of `/__emulator/link/complete`, which gives a mix.
 */
import { AccountSubtype, AccountType, Products } from 'plaid';

export interface FixtureBalances {
  available: number | null;
  current: number | null;
  limit: number | null;
  iso_currency_code: string;
}

export interface FixtureAccount {
  name: string;
  official_name: string | null;
  mask: string;
  type: AccountType;
  subtype: AccountSubtype;
  balances: FixtureBalances;
}

export interface FixtureInstitution {
  institution_id: string;
  name: string;
  /** Products the institution offers; `auth` here is what `supports_auth` reports. */
  products: Products[];
  accounts: FixtureAccount[];
}

const P = Products;
const usd = (
  available: number | null,
  current: number | null,
  limit: number | null = null,
): FixtureBalances => ({
  available,
  current,
  limit,
  iso_currency_code: 'USD',
});

export const CATALOGUE: readonly FixtureInstitution[] = [
  {
    institution_id: 'ins_109508',
    name: 'First Platypus Bank',
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Transfer, P.Liabilities, P.Signal],
    accounts: [
      {
        name: 'Plaid Checking',
        official_name: 'Plaid Gold Standard 0% Interest Checking',
        mask: '0000',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(100, 110),
      },
      {
        name: 'Plaid Saving',
        official_name: 'Plaid Silver Standard 0.1% Interest Saving',
        mask: '1111',
        type: AccountType.Depository,
        subtype: AccountSubtype.Savings,
        balances: usd(25, 25),
      },
      {
        name: 'Plaid Credit Card',
        official_name: 'Plaid Diamond 12.5% APR Interest Credit Card',
        mask: '3333',
        type: AccountType.Credit,
        subtype: AccountSubtype.CreditCard,
        balances: usd(null, 410, 2000),
      },
    ],
  },
  {
    institution_id: 'ins_109509',
    name: 'First Gingham Credit Union',
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Transfer, P.Liabilities],
    accounts: [
      {
        name: 'Gingham Share Draft',
        official_name: 'First Gingham Share Draft Checking',
        mask: '6789',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(2500, 2538.42),
      },
      {
        name: 'Plaid Mortgage',
        official_name: null,
        mask: '8888',
        type: AccountType.Loan,
        subtype: AccountSubtype.Mortgage,
        balances: usd(null, 56302.06),
      },
    ],
  },
  {
    institution_id: 'ins_109510',
    name: 'Tattersall Federal Credit Union',
    products: [P.Balance, P.Identity, P.Transactions],
    accounts: [
      {
        name: 'Tattersall Checking',
        official_name: 'Tattersall Everyday Checking',
        mask: '1357',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(820.5, 845.12),
      },
      {
        name: 'Tattersall Savings',
        official_name: 'Tattersall High Yield Savings',
        mask: '2468',
        type: AccountType.Depository,
        subtype: AccountSubtype.Savings,
        balances: usd(4000, 4000),
      },
    ],
  },
  {
    institution_id: 'ins_109511',
    name: 'Tartan Bank',
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Investments, P.Transfer],
    accounts: [
      {
        name: 'Tartan Checking',
        official_name: 'Tartan Basic Checking',
        mask: '9012',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(0, 0),
      },
      {
        name: 'Plaid Money Market',
        official_name: 'Plaid Platinum Standard 1.85% Interest Money Market',
        mask: '4444',
        type: AccountType.Depository,
        subtype: AccountSubtype.MoneyMarket,
        balances: usd(43200, 43200),
      },
      {
        name: 'Tartan Brokerage',
        official_name: null,
        mask: '5555',
        type: AccountType.Investment,
        subtype: AccountSubtype.Brokerage,
        balances: usd(null, 23631.98),
      },
    ],
  },
  {
    institution_id: 'ins_109512',
    name: 'Houndstooth Bank',
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Investments, P.Liabilities],
    accounts: [
      {
        name: 'Houndstooth Rewards Card',
        official_name: 'Houndstooth Rewards Visa',
        mask: '7777',
        type: AccountType.Credit,
        subtype: AccountSubtype.CreditCard,
        balances: usd(3749.5, 1250.5, 5000),
      },
      {
        name: 'Plaid Student Loan',
        official_name: null,
        mask: '6666',
        type: AccountType.Loan,
        subtype: AccountSubtype.Student,
        balances: usd(null, 65262),
      },
      {
        name: 'Plaid 401k',
        official_name: null,
        mask: '4321',
        type: AccountType.Investment,
        subtype: AccountSubtype._401k,
        balances: usd(null, 23631.98),
      },
    ],
  },
];

export function findInstitution(institutionId: string): FixtureInstitution | undefined {
  return CATALOGUE.find((i) => i.institution_id === institutionId);
}

export function supportsAuth(inst: FixtureInstitution): boolean {
  return inst.products.includes(Products.Auth);
}

/** Auth (and ACH numbers, processor tokens, transfers) only work on checking and savings. */
export function isAchEligible(account: { type: string; subtype: string | null }): boolean {
  return (
    account.type === AccountType.Depository &&
    (account.subtype === AccountSubtype.Checking || account.subtype === AccountSubtype.Savings)
  );
}

/**
 * Whether Link would let the user pick this institution for a token whose `products` are all
 * required: the institution must offer each one, and the Item must hold an account that can
 * serve it (Plaid's account type / product support matrix, reduced to the types used here).
 */
export function unsupportedRequiredProducts(inst: FixtureInstitution, required: readonly string[]): string[] {
  const missing: string[] = [];
  for (const product of required) {
    if (!inst.products.includes(product as Products)) {
      missing.push(product);
      continue;
    }
    const types = new Set(inst.accounts.map((a) => a.type));
    const served =
      product === Products.Auth
        ? inst.accounts.some(isAchEligible)
        : product === Products.Investments
          ? types.has(AccountType.Investment)
          : product === Products.Liabilities
            ? types.has(AccountType.Credit) || types.has(AccountType.Loan)
            : product === Products.Transactions
              ? types.has(AccountType.Depository) || types.has(AccountType.Credit)
              : true;
    if (!served) missing.push(product);
  }
  return missing;
}

/** The contract's view of the catalogue (`GET /__emulator/institutions`). */
export function catalogueView() {
  return {
    institutions: CATALOGUE.map((inst) => ({
      institution_id: inst.institution_id,
      name: inst.name,
      supports_auth: supportsAuth(inst),
      products: inst.products,
      accounts: inst.accounts.map((a) => ({ name: a.name, mask: a.mask, type: a.type, subtype: a.subtype })),
    })),
  };
}
