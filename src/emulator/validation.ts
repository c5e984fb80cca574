/**
 * Request validation with zod, reported the way Plaid reports it: absent required fields become
 * one MISSING_FIELDS error listing them all, extraneous top-level fields UNKNOWN_FIELDS, anything
 * else INVALID_FIELD with a message naming the field. zod's own messages never reach the client.
 */
import { z } from 'zod';
import { fail, type PlaidApiError } from './errors';

type Issue = z.core.$ZodIssue;

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[part];
  }
  return v;
}

const ARTICLES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
};

function describe(issue: Issue, field: string): string {
  switch (issue.code) {
    case 'invalid_type':
      return `${field} must be ${ARTICLES[issue.expected] ?? issue.expected}`;
    case 'too_small':
      if (issue.origin === 'string') return `${field} must be a non-empty string`;
      if (issue.origin === 'array') return `${field} must be a non-empty array`;
      return `${field} must be at least ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'string')
        return `${field} must be at most ${String(issue.maximum)} characters long`;
      if (issue.origin === 'array') return `${field} must contain at most ${String(issue.maximum)} items`;
      return `${field} must be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `${field} must be one of: ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return `${field} is not a valid ${issue.format}`;
    default:
      // Custom refinements carry a Plaid-style message already.
      return issue.message.includes(field) ? issue.message : `${field}: ${issue.message}`;
  }
}

/** The first Plaid error a zod failure stands for. */
export function plaidErrorFromIssues(issues: readonly Issue[], input: unknown): PlaidApiError {
  const unknown = issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.path.length === 0 ? i.keys.map(String) : [],
  );
  if (unknown.length > 0) return fail.unknownFields(unknown);
  const missing = issues
    .filter((i) => i.code === 'invalid_type' && valueAt(input, i.path) === undefined)
    .map((i) => pathText(i.path));
  if (missing.length > 0) return fail.missingFields([...new Set(missing)]);
  const first = issues[0];
  if (!first) return fail.invalidField('the request body is invalid');
  return fail.invalidField(describe(first, pathText(first.path) || 'body'));
}

export function parseWithPlaidErrors<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw plaidErrorFromIssues(result.error.issues, input);
  return result.data;
}

/** Fields every Plaid endpoint accepts in the body (credentials are read before validation). */
export const CREDENTIAL_FIELDS = ['client_id', 'secret'] as const;

/** A non-empty string; Plaid treats "" like a malformed value. */
export const nonEmpty = () => z.string().min(1);
