/**
 * The official `plaid` client, unchanged, pointed at the emulator, sandbox or production.
 */
import { Configuration, PlaidApi } from 'plaid';

export interface PlaidClientOptions {
  basePath: string;
  clientId: string;
  secret: string;
  /** Per-request timeout; Plaid's own guidance is generous, our activities retry anyway. */
  timeoutMs?: number;
}

export function createPlaidClient(opts: PlaidClientOptions): PlaidApi {
  return new PlaidApi(
    new Configuration({
      basePath: opts.basePath,
      baseOptions: {
        timeout: opts.timeoutMs ?? 30_000,
        headers: {
          'PLAID-CLIENT-ID': opts.clientId,
          'PLAID-SECRET': opts.secret,
          'Plaid-Version': '2020-09-14',
        },
      },
    }),
  );
}
