/**
 * The institution catalogue the emulated end user picks from.
 *
 * Under Plaid's own Sandbox institution ids (ins_109508 … ins_109512) every Item holds what Plaid's
 * Sandbox gives the `user_good` test user: Plaid Checking (0000, $100 available / $110 current),
 * Plaid Saving (1111, $200 / $210), Plaid CD (2222), Plaid Credit Card (3333), Plaid Money Market
 * (4444), Plaid IRA (5555), Plaid 401k (6666), Plaid Student Loan (7777) and Plaid Mortgage (8888),
 * with Sandbox's account numbers (1111222233330000, 1111222233331111) and routing 011401533.
 *
 * The negative cases live under ids Plaid does not use (`ins_linkflow_*`), so no invented data
 * hides behind a real Sandbox id:
 *  - ins_linkflow_no_auth: checking and savings, but the institution does not support Auth;
 *  - ins_linkflow_zero_balance: Auth, a checking account at exactly $0 (Sandbox's RISK decline for
 *    debits), a money market (depository, not ACH-eligible) and a brokerage account;
 *  - ins_linkflow_no_auth_accounts: supports Auth but holds only credit, loan and investment
 *    accounts (NO_AUTH_ACCOUNTS);
 *  - ins_linkflow_oauth_one_login: an OAuth institution that keeps one Item per login, as Plaid
 *    documents for Chase: linking the same login again puts the user's older Item there into
 *    ITEM_LOGIN_REQUIRED.
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
  /** One of Plaid's Sandbox institutions (user_good data, Sandbox account numbers). */
  sandbox: boolean;
  /** Products the institution offers; `auth` here is what `supports_auth` reports. */
  products: Products[];
  accounts: FixtureAccount[];
  /** `/institutions/get_by_id` reports `oauth: true`. */
  oauth?: boolean;
  /**
   * One Item per login: adding an Item invalidates (ITEM_LOGIN_REQUIRED) the same end user's
   * older Items at this institution, as Plaid documents for some OAuth institutions.
   */
  oneItemPerLogin?: boolean;
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

/** Plaid Sandbox's `user_good` accounts, as every Sandbox institution returns them. */
const USER_GOOD: readonly FixtureAccount[] = [
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
    balances: usd(200, 210),
  },
  {
    name: 'Plaid CD',
    official_name: 'Plaid Bronze Standard 0.2% Interest CD',
    mask: '2222',
    type: AccountType.Depository,
    subtype: AccountSubtype.Cd,
    balances: usd(null, 1000),
  },
  {
    name: 'Plaid Credit Card',
    official_name: 'Plaid Diamond 12.5% APR Interest Credit Card',
    mask: '3333',
    type: AccountType.Credit,
    subtype: AccountSubtype.CreditCard,
    balances: usd(null, 410, 2000),
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
    name: 'Plaid IRA',
    official_name: null,
    mask: '5555',
    type: AccountType.Investment,
    subtype: AccountSubtype.Ira,
    balances: usd(null, 320.76),
  },
  {
    name: 'Plaid 401k',
    official_name: null,
    mask: '6666',
    type: AccountType.Investment,
    subtype: AccountSubtype._401k,
    balances: usd(null, 23631.9805),
  },
  {
    name: 'Plaid Student Loan',
    official_name: null,
    mask: '7777',
    type: AccountType.Loan,
    subtype: AccountSubtype.Student,
    balances: usd(null, 65262),
  },
  {
    name: 'Plaid Mortgage',
    official_name: null,
    mask: '8888',
    type: AccountType.Loan,
    subtype: AccountSubtype.Mortgage,
    balances: usd(null, 56302.06),
  },
];

const SANDBOX_PRODUCTS = [
  P.Assets,
  P.Auth,
  P.Balance,
  P.Identity,
  P.Investments,
  P.Liabilities,
  P.Signal,
  P.Transactions,
  P.Transfer,
];

function sandboxInstitution(institution_id: string, name: string): FixtureInstitution {
  return { institution_id, name, sandbox: true, products: [...SANDBOX_PRODUCTS], accounts: [...USER_GOOD] };
}

export const CATALOGUE: readonly FixtureInstitution[] = [
  sandboxInstitution('ins_109508', 'First Platypus Bank'),
  sandboxInstitution('ins_109509', 'First Gingham Credit Union'),
  {
    institution_id: 'ins_linkflow_no_auth',
    name: 'Seersucker Credit Union',
    sandbox: false,
    products: [P.Balance, P.Identity, P.Transactions],
    accounts: [
      {
        name: 'Seersucker Checking',
        official_name: 'Seersucker Everyday Checking',
        mask: '1357',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(820.5, 845.12),
      },
      {
        name: 'Seersucker Savings',
        official_name: 'Seersucker High Yield Savings',
        mask: '2468',
        type: AccountType.Depository,
        subtype: AccountSubtype.Savings,
        balances: usd(4000, 4000),
      },
    ],
  },
  {
    institution_id: 'ins_linkflow_zero_balance',
    name: 'Chambray Bank',
    sandbox: false,
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Investments, P.Transfer],
    accounts: [
      {
        name: 'Chambray Checking',
        official_name: 'Chambray Basic Checking',
        mask: '9012',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(0, 0),
      },
      {
        name: 'Chambray Money Market',
        official_name: 'Chambray Money Market Plus',
        mask: '4545',
        type: AccountType.Depository,
        subtype: AccountSubtype.MoneyMarket,
        balances: usd(43200, 43200),
      },
      {
        name: 'Chambray Brokerage',
        official_name: null,
        mask: '5656',
        type: AccountType.Investment,
        subtype: AccountSubtype.Brokerage,
        balances: usd(null, 23631.98),
      },
    ],
  },
  {
    institution_id: 'ins_linkflow_no_auth_accounts',
    name: 'Herringbone Bank',
    sandbox: false,
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Investments, P.Liabilities],
    accounts: [
      {
        name: 'Herringbone Rewards Card',
        official_name: 'Herringbone Rewards Visa',
        mask: '7070',
        type: AccountType.Credit,
        subtype: AccountSubtype.CreditCard,
        balances: usd(3749.5, 1250.5, 5000),
      },
      {
        name: 'Herringbone Student Loan',
        official_name: null,
        mask: '6060',
        type: AccountType.Loan,
        subtype: AccountSubtype.Student,
        balances: usd(null, 65262),
      },
      {
        name: 'Herringbone 401k',
        official_name: null,
        mask: '4321',
        type: AccountType.Investment,
        subtype: AccountSubtype._401k,
        balances: usd(null, 23631.98),
      },
    ],
  },
  sandboxInstitution('ins_109510', 'Tattersall Federal Credit Union'),
  sandboxInstitution('ins_109511', 'Tartan Bank'),
  sandboxInstitution('ins_109512', 'Houndstooth Bank'),
  {
    institution_id: 'ins_linkflow_oauth_one_login',
    name: 'Madras Bank',
    sandbox: false,
    products: [P.Auth, P.Balance, P.Identity, P.Transactions, P.Transfer],
    oauth: true,
    oneItemPerLogin: true,
    accounts: [
      {
        name: 'Madras Checking',
        official_name: 'Madras Total Checking',
        mask: '3141',
        type: AccountType.Depository,
        subtype: AccountSubtype.Checking,
        balances: usd(1250, 1300),
      },
      {
        name: 'Madras Savings',
        official_name: 'Madras Premier Savings',
        mask: '2718',
        type: AccountType.Depository,
        subtype: AccountSubtype.Savings,
        balances: usd(9000, 9000),
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
