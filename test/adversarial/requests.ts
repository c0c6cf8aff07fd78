import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';

/** One registered route: its method and its pattern (`:name` for a path parameter). */
export interface Route {
  method: string;
  url: string;
}

/**
 * Every route the app registered, read back from fastify's own route tree (printRoutes), so a
 * route added later is fuzzed without anyone listing it here. The tree is read with its common
 * prefixes: the flat listing shows a wildcard route such as /v1/log/tiles/tile/* as a bare '*'.
 */
export function routesOf(app: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: true }).split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const depth = at / 4;
    const m = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(at + 4));
    if (m === null) continue;
    const url = (depth === 0 ? '' : (parents[depth - 1] ?? '')) + m[1];
    parents[depth] = url;
    parents.length = depth + 1;
    for (const method of m[2]?.split(', ') ?? []) routes.push({ method, url });
  }
  return routes;
}

/** Field names the routes' records use: wrong types go where a handler looks. */
const keys = [
  'v',
  'csis',
  'csi',
  'csip',
  'holderKey',
  'code',
  'epoch',
  'elements',
  'buckets',
  'submissions',
  'body',
  'holderSig',
  'mspSig',
  'dpSig',
  'attestation',
  'format',
  'federation',
  'dpList',
  'mspFilter',
  'participant',
  'role',
  'audience',
  'issuedAt',
  'nonce',
  'sig',
  'from',
  'index',
  'checkpoint',
  'origin',
  'kind',
  'id',
  'payload',
  'msp',
  'ssi',
  'tag',
  'supersedes',
  'expiresAt',
  '__proto__',
  'constructor',
];

/** Strings that look like identifiers but are not: controls, lone surrogates, RTL overrides, look-alikes. */
const trickyText = fc.oneof(
  fc.constantFrom(
    'tel:+14155550101',
    'tel:+1415555\u202e0101',
    'tel:+１４１５５５５０１０１',
    'tel:+14155550101\u0000',
    'mailto:bob@example.com',
    'mailto:bob@exa\u200bmple.com',
    'mailto:bob@еxample.com',
    'mimi://chat.example/u/bob',
    'msp1',
    'dp1',
    'msp',
    'dp',
    '\ud800',
    '\udfff\ud800',
    '\u0000',
    '\u202e\u2066',
    '../../etc/passwd',
    '%00%ff',
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    '',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

/** Numbers a JSON parser or a schema may trip on, as JSON text. */
const hugeNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  '1e308',
  '-0',
  '123456789012345678901234567890',
  '9007199254740993',
  '0.0000000000000000000001',
  '1.5',
  '-1',
  '4294967296',
);

/** A JSON value of arbitrary type, as text, possibly with huge numbers and tricky strings. */
const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hugeNumber,
    trickyText.map((s) => JSON.stringify(s)),
    fc.constantFrom('null', 'true', 'false', '{}', '[]', '1', '"1"'),
    fc.array(tie('v'), { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
    fc
      .array(fc.tuple(fc.constantFrom(...keys), tie('v')), { maxLength: 4 })
      .map((kv) => `{${kv.map(([k, x]) => `${JSON.stringify(k)}:${x}`).join(',')}}`),
  ),
})).v;

/** An object with the routes' field names, wrong types, and sometimes the same key twice. */
const recordLike = fc
  .tuple(fc.array(fc.tuple(fc.constantFrom(...keys), value), { maxLength: 8 }), fc.boolean())
  .map(([kv, v1]) => {
    const members = kv.map(([k, x]) => `${JSON.stringify(k)}:${x}`);
    if (v1) members.unshift('"v":1');
    return `{${members.join(',')}}`;
  });

/** Bodies: malformed JSON, deep nesting, duplicate keys, huge strings, wrong types. */
export const body: fc.Arbitrary<string> = fc.oneof(
  recordLike,
  value,
  // duplicate keys: which one wins must not matter to what is checked
  fc.tuple(fc.constantFrom(...keys), value, value).map(([k, a, b]) => `{"v":1,"${k}":${a},"${k}":${b}}`),
  // malformed: truncated, trailing garbage, single quotes, comments, BOM
  recordLike.chain((r) => fc.nat(r.length).map((n) => r.slice(0, n))),
  recordLike.map((r) => `${r},`),
  fc.constantFrom(
    "{'v':1}",
    '{"v":1,}',
    '{"v":1 /* c */}',
    '\ufeff{"v":1}',
    '{"v":NaN}',
    '{"v":Infinity}',
    '',
  ),
  fc.string({ unit: 'binary', maxLength: 64 }),
  // deep nesting
  fc.integer({ min: 100, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.integer({ min: 100, max: 5_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
  // a huge string within the body limit
  fc.integer({ min: 1_000, max: 60_000 }).map((n) => `{"v":1,"csis":["${'9'.repeat(n)}"]}`),
  fc.integer({ min: 100, max: 1_000 }).map((n) => `{"v":1,"csis":[${'"tel:+14155550101",'.repeat(n)}"x"]}`),
  // prototype poisoning
  fc.constantFrom('{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}'),
);

export const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/problem+json',
  'application/merge-patch+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json;;;',
  'application/json; boundary="',
  '*/*',
  '',
  undefined,
);

/** A path parameter value: plausible, overlong, encoded, or tricky. */
export const param = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '00',
    '-1',
    '99999999999',
    '1e3',
    'NaN',
    '%2e%2e',
    '%00',
    '%ff%fe',
    '..',
    'a'.repeat(99),
  ),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,64}$/),
  trickyText.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))),
);

/** The rest of a wildcard route's path (the C2SP tile routes): tile paths, near misses, junk. */
export const wildcardRest = fc.oneof(
  fc.constantFrom(
    '0/000',
    '0/001.p/7',
    '1/000.p/0',
    '0/000.p/256',
    '0/x001/234',
    '0/1000',
    '6/000',
    'entries/000',
    'entries/000.p/1',
    'entries/x000',
    '../checkpoint',
    '0/%2e%2e',
  ),
  fc.array(param, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
);

/** A query string for the routes that read one. */
export const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('start', 'end', 'index', 'size', 'hash', 'from', 'to', 'x'),
      fc.oneof(param, hugeNumber),
    ),
    { maxLength: 5 },
  )
  .map((kv) => (kv.length === 0 ? '' : `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}`));

/** Headers a peer-signed route parses: RFC 9421 signatures and RFC 9530 digests that are junk. */
export const signatureHeaders = fc.option(
  fc.record({
    signature: fc.oneof(
      fc.constant('sig1=:AAAA:'),
      trickyText.map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    ),
    'signature-input': fc.oneof(
      fc.constant('sig1=("@method" "@target-uri" "content-digest");created=1;keyid="dp2";nonce="abc"'),
      fc.constant('sig1=();keyid="dp1"'),
      fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    ),
    'content-digest': fc.constantFrom('sha-256=:AAAA:', 'sha-512=::', 'garbage'),
  }),
  { nil: undefined },
);

/** Every path to a member or an element of `v`, to depth 4. */
function pathsOf(
  v: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (at.length >= 4 || typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

/**
 * Real records (signed where they are signed) with one to three members replaced by a fuzzed
 * value or removed: requests that get past the JSON parser and the schema's first checks, to the
 * signatures, the store and the DP's rules.
 */
export function mutated(templates: readonly unknown[]): fc.Arbitrary<string> {
  return fc.constantFrom(...templates).chain((t) => {
    const paths = pathsOf(t);
    const leaves = paths.map((p) => JSON.stringify(p.reduce<unknown>((o, k) => (o as never)[k], t)));
    const edit = fc.tuple(
      fc.constantFrom(...paths),
      fc.option(fc.oneof(value, fc.constantFrom(...leaves)), { nil: undefined }),
    );
    // Plausible values too: another record's member of the same kind gets past the type checks.
    return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
      const copy = structuredClone(t) as Record<string | number, unknown>;
      const raw: string[] = [];
      for (const [path, v] of edits) {
        let parent = copy;
        for (const k of path.slice(0, -1)) {
          const next = parent?.[k];
          if (typeof next !== 'object' || next === null) break;
          parent = next as Record<string | number, unknown>;
        }
        const last = path[path.length - 1]!;
        if (typeof parent !== 'object' || parent === null) continue;
        if (v === undefined) delete parent[last];
        else {
          parent[last] = `__fuzz_${raw.length}__`;
          raw.push(v);
        }
      }
      return raw.reduce((text, v, i) => text.replace(`"__fuzz_${i}__"`, () => v), JSON.stringify(copy));
    });
  });
}
