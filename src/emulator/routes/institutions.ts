/**
 * `/institutions/get_by_id`: an institution of the catalogue as Plaid describes it. Unknown ids
 * (and ids asked for a country the institution does not serve) are INVALID_INSTITUTION.
 */
import { CountryCode, type InstitutionsGetByIdResponse } from 'plaid';
import { z } from 'zod';
import type { EmulatorContext } from '../context';
import { PlaidApiError } from '../errors';
import { findInstitution } from '../fixtures';
import type { PlaidRouter } from '../plaidRouter';
import { nonEmpty } from '../validation';

const getByIdSchema = z.strictObject({
  institution_id: nonEmpty(),
  country_codes: z.array(z.enum(CountryCode)).min(1),
  options: z
    .strictObject({
      include_optional_metadata: z.boolean().optional(),
      include_status: z.boolean().optional(),
      include_auth_metadata: z.boolean().optional(),
      include_payment_initiation_metadata: z.boolean().optional(),
    })
    .optional(),
});

/** Every catalogue institution is a US one, with Plaid Sandbox's routing number. */
const COUNTRIES: CountryCode[] = [CountryCode.Us];

export function registerInstitutionRoutes(router: PlaidRouter, _ctx: EmulatorContext): void {
  router.post('/institutions/get_by_id', getByIdSchema, (input, call) => {
    const inst = findInstitution(input.institution_id);
    if (!inst || !input.country_codes.some((c) => COUNTRIES.includes(c))) {
      throw new PlaidApiError('INVALID_INSTITUTION');
    }
    const optional = input.options?.include_optional_metadata === true;
    const body: InstitutionsGetByIdResponse = {
      institution: {
        institution_id: inst.institution_id,
        name: inst.name,
        products: inst.products,
        country_codes: COUNTRIES,
        routing_numbers: ['011401533'],
        oauth: inst.oauth === true,
        ...(optional ? { url: null, primary_color: null, logo: null } : {}),
        ...(input.options?.include_status ? { status: null } : {}),
      },
      request_id: call.requestId,
    };
    return { body };
  });
}
