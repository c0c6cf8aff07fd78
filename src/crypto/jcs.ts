import { createRequire } from 'node:module';

// The package is CommonJS whose typings claim an ES default export; load it as what it is.
const canonicalizeImpl = createRequire(import.meta.url)('canonicalize') as (
  value: unknown,
) => string | undefined;

/**
 * RFC 8785 JSON Canonicalization Scheme, through the reference implementation by the RFC's
 * author (sorts keys by UTF-16 code units, ES6 number serialisation), pinned by RFC vectors in
 * test/crypto/rfc8785-jcs.test.ts.
 */
export function canonicalize(value: unknown): string {
  const out = canonicalizeImpl(value);
  if (out === undefined) throw new TypeError('value has no JSON form');
  return out;
}
