import canonicalizeModule from 'canonicalize';

// The package is CommonJS (`module.exports = serialize`) whose typings claim an ES default export:
// imported from ES modules its default is the function itself, whatever the typings say. A plain
// import, not createRequire, so that bundlers (a browser build of the SDK) resolve it too.
const canonicalizeImpl = canonicalizeModule as unknown as (value: unknown) => string | undefined;

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
